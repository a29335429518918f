"""The Flower ClientApp: one client's round of local training.

A client receives the global trainable weights (the adapter and a classifier's head), trains them on its own rows
for federated.local_epochs with the run's objective and decided settings (training/local.py), and replies with its
weights and how many rows it holds (the weight of its vote in FedAvg). Nothing else leaves the client.

Where a client's rows come from: in simulation, `node_config["partition-id"]` picks its part of the prepared
training split (federation/partition.json); run on a real Flower SuperNode, `--node-config "train='PATH'"` names
the client's own data file, prepared there with the run's data settings.

The model stays loaded between rounds in the process that runs the client (a Ray actor in simulation).
`TUNESMITH_FAIL_CLIENT=CLIENT:ROUND[,...]` makes a client fail in a round (to try a federation's failure path).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tunesmith.config import RunConfig

_LOADED: dict = {}  # per process: the config's JSON (and data file) -> training.local.Local


def _quiet_log(message: str) -> None:
    del message  # the clients' own setup lines would repeat the server's for every client


def _local(config: dict, train_file: str | None):
    from tunesmith.quiet import quiet_libraries
    from tunesmith.training.local import local_setup

    key = json.dumps(config, sort_keys=True) + (train_file or "")
    if key not in _LOADED:
        quiet_libraries()
        run_config = RunConfig.model_validate(config)
        if train_file:
            run_config.data.train = train_file
        _LOADED.clear()  # one model per process
        _LOADED[key] = local_setup(run_config, _quiet_log)
    return _LOADED[key]


def _fail_if_asked(client: int, round_: int) -> None:
    asked = {tuple(int(x) for x in item.split(":")) for item in os.environ.get("TUNESMITH_FAIL_CLIENT", "").split(",")
             if item.strip()}
    if (client, round_) in asked:
        raise RuntimeError(f"client {client} failed in round {round_} (TUNESMITH_FAIL_CLIENT)")


def client_rows(local, context, parts_file: str | None) -> tuple[int, list[dict]]:
    """(client id, its tokenized training rows)."""
    rows = local.data.tokenized["train"]
    if "train" in context.node_config:
        return int(context.node_config.get("partition-id", context.node_id)), rows
    client = int(context.node_config["partition-id"])
    parts = json.loads(Path(parts_file).read_text())["clients"]
    return client, [rows[i] for i in parts[client]]


def train_round(message, context, config: dict, parts_file: str | None):
    """One round on this client: the global weights in, local training, its weights and row count out."""
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    from tunesmith.training.local import load_trainable, train_rows, trainable_state

    local = _local(config, context.node_config.get("train"))
    client, rows = client_rows(local, context, parts_file)
    settings = message.content["config"]
    _fail_if_asked(client, int(settings["server-round"]))
    load_trainable(local.model, message.content["arrays"].to_torch_state_dict())
    done = train_rows(local, rows, float(settings["local-epochs"]), float(settings.get("proximal-mu", 0.0)),
                      steady=True)
    private = local.config.federated.privacy.clip is not None
    metrics = {"num-examples": 1 if private else done["rows"],  # DP averages clients unweighted
               "rows": done["rows"], "train_loss": done["train_loss"], "seconds": done["seconds"], "client": client}
    reply = RecordDict({"arrays": ArrayRecord(torch_state_dict=trainable_state(local.model)),
                        "metrics": MetricRecord(metrics)})
    return Message(content=reply, reply_to=message)


def name_reply(message, context):
    """Which client this node is (the server asks every node once)."""
    from flwr.app import Message, MetricRecord, RecordDict

    client = int(context.node_config.get("partition-id", context.node_id))
    return Message(content=RecordDict({"metrics": MetricRecord({"client": client})}), reply_to=message)


def make_client_app(config_of, parts_file: str | None = None):
    """The ClientApp; `config_of(context)` gives the run's config as a dict (in simulation the dict travels with the
    app to every client process; deployed, federated/app.py reads the YAML the run config names)."""
    from flwr.clientapp import ClientApp

    app = ClientApp()
    app.train()(lambda message, context: train_round(message, context, config_of(context), parts_file))
    app.query()(name_reply)
    return app
