"""The federation's Flower apps for a real deployment (Flower's SuperLink and SuperNodes, `flwr run`): the same
ClientApp and server logic as `tunesmith federate`'s simulation, found by Flower as module attributes.

The Flower app project in deploy/flower/ names them. Its run config says where the tunesmith config is
(`config`, a YAML path readable by the SuperLink's ServerApp process and by every SuperNode) and, optionally, a
federation to resume (`resume`, its run folder). Each SuperNode names its client and data with
`--node-config "partition-id=K train='PATH'"`; the server waits for federated.clients nodes.
"""

from __future__ import annotations

from pathlib import Path

from flwr.serverapp import ServerApp

from tunesmith.config import load_config
from tunesmith.errors import UserError
from tunesmith.federated.client import make_client_app


def _config_path(context) -> Path:
    path = Path(str(context.run_config.get("config") or ""))
    if not path.is_absolute():
        raise UserError(f"the Flower run config's `config` is '{path}'; it must be an absolute path that the "
                        "SuperLink and every SuperNode can read",
                        hint="flwr run . SUPERLINK --run-config \"config='/path/to/federated.yaml'\"")
    return path


def _config(context) -> dict:
    return load_config(_config_path(context), []).model_dump(mode="json")


client_app = make_client_app(_config)
server_app = ServerApp()


@server_app.main()
def _main(grid, context) -> None:
    from rich.console import Console

    from tunesmith.federated.run import close_federation, open_federation, serve

    resume = str(context.run_config.get("resume") or "")
    config = None if resume else load_config(_config_path(context), [])
    federation = open_federation(config, Console(), Path(resume) if resume else None)
    serve(federation, grid)
    close_federation(federation)
