"""federated.compare: the federation beside what the same rows give otherwise, all scored on the same test split.

- centralised: an ordinary run on the whole training split (`tunesmith train`), for as many passes over each row
  as the federation made (rounds x local_epochs);
- federated iid: the same federation on IID partitions (when the federation itself was not IID);
- each client alone: the run's starting model trained on one client's rows only, for the same passes.

Every system is a run folder under RUN/compare/ with its own eval.json; federated.json and federated.html in the
federation's folder hold the table: the test metric with a 95% bootstrap interval over the test rows, the paired
change against centralised training, wall time and the bytes each round sent.
"""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith.config import RunConfig
from tunesmith.evaluate.across import change, row_scores
from tunesmith.evaluate.compare import bootstrap_ci
from tunesmith.federated.run import federate
from tunesmith.federated.report import write_federated_report
from tunesmith.runs import open_run, read_json, write_json


def passes(config: RunConfig) -> float:
    return config.federated.rounds * config.federated.local_epochs


def _variant(config: RunConfig, folder: Path, name: str) -> RunConfig:
    variant = config.model_copy(deep=True)
    variant.output.dir, variant.output.name = str(folder), name
    variant.federated.compare = False
    return variant


def centralised(config: RunConfig, folder: Path, console) -> Path:
    from tunesmith.training import train

    variant = _variant(config, folder, "centralised")
    variant.training.epochs, variant.training.max_steps = passes(config), -1
    return train(variant, console)


def federated_iid(config: RunConfig, folder: Path, console) -> Path:
    variant = _variant(config, folder, "federated-iid")
    variant.federated.partition = "iid"
    return federate(variant, console)


def alone(config: RunConfig, folder: Path, client: int, rows: list[int], console) -> Path:
    """The starting model trained on one client's rows (the same passes as the federation), finished as a run."""
    from tunesmith.training.local import Local, train_rows
    from tunesmith.training.run import finish, prepare

    stage = prepare(_variant(config, folder, f"alone-{client}"), console, None, ())
    local = Local(stage.config, stage.objective, stage.tokenizer, stage.data, stage.hardware, stage.model)
    started = time.perf_counter()
    done = train_rows(local, [stage.data.tokenized["train"][i] for i in rows], passes(config))
    stage.log(f"client {client} alone: {done['rows']} rows, {done['steps']} steps, train loss {done['train_loss']:.4g}")
    return finish(stage, None, time.perf_counter() - started)


def score(run: Path) -> dict | None:
    """The run's test metric: value, 95% interval of the mean over rows, per-row scores."""
    evaluation = read_json(run / "eval.json")
    metrics = evaluation.get("metrics") or {}
    if not metrics:
        return None
    metric, row = next(iter(metrics.items()))
    scores = row_scores(evaluation, metric)
    return {"metric": metric, "tuned": row["tuned"], "base": row["base"], "scale": row.get("scale", "fraction"),
            "ci95": list(bootstrap_ci(scores)) if scores else None, "scores": scores}


def system(name: str, run: Path, scored: dict | None, reference: dict | None) -> dict:
    summary = read_json(run / "summary.json")
    fed = summary.get("federated") or {}
    row = {"system": name, "run": str(run), "wall_seconds": fed.get("wall_seconds", summary.get("train_seconds")),
           "bytes_per_round": fed.get("bytes_per_round"), "epsilon": fed.get("epsilon"),
           **({k: scored[k] for k in ("metric", "tuned", "base", "scale", "ci95")} if scored else {})}
    if scored and reference and name != "centralised":
        row.update({f"vs_centralised_{k}": v for k, v in change(reference, scored).items()},
                   share_of_centralised=scored["tuned"] / reference["tuned"] if reference["tuned"] else None)
    return row


def run_comparison(config: RunConfig, run: Path, parts: list[list[int]], console) -> dict:
    """Train the other systems and return federated.json's content."""
    folder = run / "compare"
    runs = {"centralised": centralised(config, folder, console),
            f"federated {config.federated.partition}": run}
    if config.federated.partition != "iid":
        runs["federated iid"] = federated_iid(config, folder, console)
    for client, rows in enumerate(parts):
        runs[f"client {client} alone"] = alone(config, folder, client, rows, console)
    scores = {name: score(path) for name, path in runs.items()}
    systems = [system(name, path, scores[name], scores["centralised"]) for name, path in runs.items()]
    rounds = {name: read_json(path / "federation" / "rounds.json").get("rounds", [])
              for name, path in runs.items() if name.startswith("federated")}
    return {"federated": config.federated.model_dump(mode="json"), "passes_per_row": passes(config),
            "partition": read_json(run / "federation" / "partition.json").get("described"),
            "systems": systems, "rounds": {k: [_round_line(r) for r in v] for k, v in rounds.items()}}


def _round_line(entry: dict) -> dict:
    return {"round": entry["round"], "validation": entry.get("validation", {}), "seconds": entry.get("seconds"),
            "clients": len(entry.get("clients", {})), "failed": list(entry.get("failed", {})),
            "bytes": entry.get("bytes_up", 0) + entry.get("bytes_down", 0)}


def run_federation(config: RunConfig | None, console, resume: Path | None = None) -> Path:
    """`tunesmith federate`: the federation (or the rest of a killed one), then, with federated.compare, the other
    systems, federated.json and federated.html."""
    run = federate(config, console, resume)
    config = open_run(run)[0]
    if config.federated.compare:
        parts = read_json(run / "federation" / "partition.json")["clients"]
        result = run_comparison(config, run, parts, console)
        write_json(run / "federated.json", result)
        write_federated_report(run, result)
    return run
