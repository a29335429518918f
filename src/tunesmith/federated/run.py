"""`tunesmith federate CONFIG`: LoRA fine-tuning across simulated clients with Flower.

The federation is a run: `prepare` (training/run.py) makes its folder, loads the model with its method and builds
the trainer on the prepared splits, exactly as `tunesmith train` does. The training split is dealt to
federated.clients clients (partition.py, saved in federation/partition.json); Flower's simulation engine runs the
ClientApp (client.py) for each client in its own process and the ServerApp (server.py) here. After every round the
global weights go into the run's model, are scored on the validation split, and are checkpointed
(checkpoints/checkpoint-ROUND/global.safetensors) with the round's record in federation/rounds.json, so a killed
federation resumes from its last finished round (`--resume RUN`). After the last round the run finishes like any
other: adapter saved and reloaded, base vs fine-tuned on the test split, report.html. Only trainable weights
travel (method.name must save an adapter).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import RunConfig
from tunesmith.errors import UserError
from tunesmith.federated.partition import describe, partition
from tunesmith.federated.server import Recorded, epsilon, make_strategy, serve_rounds
from tunesmith.methods import get_method
from tunesmith.runs import latest_checkpoint, open_run, read_json, update_manifest, write_json

FOLDER = "federation"


def check(config: RunConfig) -> None:
    """Refuse a federation that cannot run, before anything loads."""
    method, fed = get_method(config.method.name), config.federated
    if method.artifact != "adapter":
        raise UserError(f"federated fine-tuning sends only adapter weights, and method.name={method.name} trains the "
                        "whole model", hint="use method.name=lora (or dora, ia3)")
    if fed.privacy.clip is not None and fed.strategy == "fedadam":
        raise UserError("federated.privacy with strategy fedadam: Flower's privacy accounting needs FedAvg's "
                        "aggregation", hint="use federated.strategy fedavg or fedprox with privacy")


def _partition(stage, config: RunConfig, resume: bool) -> list[list[int]]:
    path = stage.run / FOLDER / "partition.json"
    if resume and path.is_file():
        return read_json(path)["clients"]
    fed = config.federated
    parts = partition(stage.data, fed.partition, fed.clients, config.training.seed, config.data.train,
                      config.data.columns)
    path.parent.mkdir(exist_ok=True)
    write_json(path, {"partition": fed.partition, "clients": parts, "described": describe(stage.data, parts)})
    sizes = [len(p) for p in parts]
    stage.log(f"partition {fed.partition}: {fed.clients} clients holding {min(sizes)}-{max(sizes)} rows "
              f"({sum(sizes)} in all)")
    return parts


def _start(stage) -> tuple[int, dict]:
    """(rounds already done, the global weights to start from): the last round checkpoint, else the run's model."""
    from safetensors.torch import load_file

    from tunesmith.training.local import load_trainable, trainable_state

    checkpoint = latest_checkpoint(stage.run)
    if checkpoint is None or not (checkpoint / "global.safetensors").is_file():
        return 0, trainable_state(stage.model)
    load_trainable(stage.model, load_file(str(checkpoint / "global.safetensors")))
    done = int(checkpoint.name.split("-")[-1])
    stage.log(f"resuming after round {done} (its global weights: {checkpoint})")
    return done, trainable_state(stage.model)  # in the model's order, as every client replies


def _checkpoint(run: Path, round_: int, state: dict) -> None:
    from safetensors.torch import save_file

    folder = run / "checkpoints" / f"checkpoint-{round_}"
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "global.safetensors"))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def _validation(stage, round_: int) -> dict:
    if stage.trainer.eval_dataset is None:
        return {}
    stage.trainer.state.global_step = round_  # metrics.jsonl and the studio's curves: one point per round
    scores = stage.trainer.evaluate()
    return {k.removeprefix("eval_"): float(v) for k, v in scores.items()
            if isinstance(v, (int, float)) and not k.endswith(("runtime", "per_second"))}


def _describe_round(entry: dict, rounds: int) -> str:
    scores = ", ".join(f"{k} {v:.4g}" for k, v in entry["validation"].items() if k in ("accuracy", "loss", "f1"))
    private = f", epsilon {entry['epsilon']:.2f}" if entry.get("epsilon") is not None else ""
    return (f"round {entry['round']}/{rounds}: {len(entry.get('clients', {}))} of {len(entry['asked'])} clients "
            f"trained; validation {scores or '-'}; {entry['bytes_up'] / 1e6:.2f} MB up, "
            f"{entry['bytes_down'] / 1e6:.2f} MB down{private}; {entry['seconds']:.0f} s")


class Rounds:
    """The server's per-round callback: global weights into the run's model, validation, checkpoint, record."""

    def __init__(self, stage, strategy: Recorded, history: list[dict], rounds: int):
        self.stage, self.strategy, self.history, self.rounds = stage, strategy, history, rounds
        self.clock = time.perf_counter()

    def __call__(self, round_: int, arrays) -> None:
        from tunesmith.training.local import load_trainable

        state = arrays.to_torch_state_dict()
        load_trainable(self.stage.model, state)
        entry = {"round": round_, **self.strategy.rounds.get(round_, {}), "validation": _validation(self.stage, round_),
                 "epsilon": epsilon(self.strategy.inner), "seconds": round(time.perf_counter() - self.clock, 1)}
        self.clock = time.perf_counter()
        _checkpoint(self.stage.run, round_, state)
        self.history.append(entry)
        write_json(self.stage.run / FOLDER / "rounds.json", {"rounds": self.history})
        self.stage.log(_describe_round(entry, self.rounds))


def _quiet_flower() -> None:
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # offline first: no usage events sent
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    logging.getLogger("flwr").setLevel(logging.CRITICAL)  # tunesmith logs each round, failures included


def _run_flower(server, client, fed) -> None:
    from flwr.simulation import run_simulation

    cores = max(fed.client_cpus, os.cpu_count() or 1)
    run_simulation(server_app=server, client_app=client, num_supernodes=fed.clients,
                   backend_config={"client_resources": {"num_cpus": fed.client_cpus},
                                   "init_args": {"num_cpus": cores, "log_to_driver": False,
                                                 "logging_level": logging.ERROR}})


@dataclass
class Federation:
    """A federation between its start and its end: the run's stage, the strategy and the rounds recorded."""

    stage: Any  # training.run.Stage
    config: RunConfig  # with the defaults decided
    written: RunConfig  # as given (what the clients decide from)
    strategy: Recorded
    history: list[dict]
    parts: list[list[int]]
    start: dict  # the global weights the next round starts from
    started: float


def open_federation(config: RunConfig | None, console, resume: Path | None = None) -> Federation:
    """The run folder made (or reopened to resume), data partitioned, model loaded, strategy ready."""
    from tunesmith.training.run import prepare

    if resume:
        config, manifest = open_run(resume)
        if manifest.get("status") == "finished":
            raise UserError(f"{resume} already finished; nothing to resume")
    check(config)
    _quiet_flower()
    stage = prepare(config, console, resume, ())
    update_manifest(stage.run, status="running", federated=config.federated.model_dump(mode="json"))
    try:
        parts = _partition(stage, stage.config, bool(resume))
    except UserError:
        if not resume:  # a partition that cannot be made leaves no half-made run behind
            shutil.rmtree(stage.run, ignore_errors=True)
        raise
    done, start = _start(stage)
    history = [r for r in read_json(stage.run / FOLDER / "rounds.json").get("rounds", []) if r["round"] <= done]
    strategy = Recorded(make_strategy(stage.config.federated), config.federated.clients, done, stage.log)
    return Federation(stage, stage.config, config, strategy, history, parts, start, time.perf_counter())


def serve(federation: Federation, grid) -> None:
    """The ServerApp's main: the remaining rounds on `grid` (simulated, or a deployment's SuperLink)."""
    from flwr.app import ArrayRecord

    fed = federation.config.federated
    rounds = Rounds(federation.stage, federation.strategy, federation.history, fed.rounds)
    serve_rounds(grid, federation.strategy, ArrayRecord(torch_state_dict=federation.start),
                 fed.rounds - federation.strategy.done, {"local-epochs": float(fed.local_epochs)}, rounds)


def close_federation(federation: Federation) -> Path:
    """After the last round: the run finished like a trained one (adapter saved, reloaded, scored), totals kept."""
    from tunesmith.training.run import finish

    stage, rounds = federation.stage, federation.config.federated.rounds
    finished = max((r["round"] for r in federation.history), default=0)
    if finished < rounds:
        update_manifest(stage.run, status="interrupted", step=finished)
        raise UserError(f"the federation stopped after round {finished} of {rounds}",
                        hint=f"continue it: tunesmith federate --resume {stage.run}")
    seconds = time.perf_counter() - federation.started
    run = finish(stage, None, seconds)
    _summarise(run, federation.history, federation.parts, seconds)
    return run


def federate(config: RunConfig | None, console, resume: Path | None = None) -> Path:
    """Run (or resume) a federation in Flower's simulation engine; returns its run folder."""
    federation = open_federation(config, console, resume)
    _simulate(federation)
    return close_federation(federation)


def _client_config(written: RunConfig) -> dict:
    """The config every client trains with: the one given (each decides the same defaults), its threads set."""
    client = written.model_copy(deep=True)
    client.training.threads = written.federated.client_cpus
    return client.model_dump(mode="json")


def _simulate(federation: Federation) -> None:
    """Flower's simulation engine: one process per client (Ray), the server in a thread of this process."""
    from flwr.serverapp import ServerApp

    from tunesmith.federated.client import make_client_app

    server = ServerApp()
    server.main()(lambda grid, context: serve(federation, grid))
    client_config = _client_config(federation.written)
    client = make_client_app(lambda context: client_config, str(federation.stage.run / FOLDER / "partition.json"))
    _run_flower(server, client, federation.config.federated)


def _summarise(run: Path, history: list[dict], parts: list[list[int]], seconds: float) -> None:
    """summary.json gains the federation's totals (the manifest's `federated` record was written at the start)."""
    summary = read_json(run / "summary.json")
    rounds = len(history)
    summary.update(federated={
        "rounds": rounds, "clients": len(parts), "rows": sum(len(p) for p in parts),
        "bytes_per_round": round(sum(r.get("bytes_up", 0) + r.get("bytes_down", 0) for r in history) / max(rounds, 1)),
        "failures": sum(len(r.get("failed") or {}) for r in history),
        "epsilon": history[-1].get("epsilon") if history else None, "wall_seconds": round(seconds, 1)})
    write_json(run / "summary.json", summary)
