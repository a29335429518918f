"""Everything a run needs before weights load: method, objective, hardware, tokenizer and checked data.

`tunesmith data prepare` stops here and writes the cleaned splits and their report into the run folder;
`tunesmith train` goes on from the same place, so both see identical data.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import RunConfig
from tunesmith.data.replay import check_replay, describe_replay
from tunesmith.data.tools import openai_row
from tunesmith.hardware import detect
from tunesmith.methods import get_method
from tunesmith.models import check_model_kind, load_tokenizer, resolve_model
from tunesmith.objectives import get_objective
from tunesmith.objectives.lengths import decide_lengths
from tunesmith.runs import create_run, file_sha256, update_manifest, write_json
from tunesmith.training.defaults import decide_batch
from tunesmith.training.lineage import continue_from
from tunesmith.training.log import RunLog


def describe_cleaning(report: dict) -> str:
    parts = []
    for split, source in report.get("sources", {}).items():
        steps = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in source.items()
                          if isinstance(v, int) and v and k not in ("records", "kept"))
        parts.append(f"{split}: {source['records']} {source['format']} records -> {source['kept']} kept"
                     + (f" ({steps})" if steps else ""))
    leaks = {k: v for k, v in report.items() if k.startswith("leaked") and v}
    flagged = {f"{split} {why}": len(rows) for split, found in report.get("flagged", {}).items()
               for why, rows in found.items() if rows}
    cached = " [prepared data reused from cache]" if report.get("cache") == "hit" else ""
    return ("cleaning: " + "; ".join(parts) + (f"; removed from evaluation as leaked: {leaks}" if leaks else "")
            + (f"; kept but flagged (a leak-free subset is scored beside): {flagged}" if flagged else "") + cached)


@dataclass
class Inputs:
    """What a run has before weights load; `config` has the data limits decided (`chosen` says how)."""
    method: Any
    objective: Any
    hardware: Any
    source: Any
    tokenizer: Any
    data: Any
    config: RunConfig
    chosen: dict
    parent: Any = None  # training.lineage.Parent when the run continues from another (model.from_run)


def describe_lengths(report: dict, limit: int) -> str | None:
    counts = [f"{how} {split} {n}" for how in ("truncated", "dropped")
              for split, n in report.get(f"{how}_too_long", {}).items()]
    return f"length: examples over data.max_length={limit} tokens: " + ", ".join(counts) if counts else None


def prepare_inputs(config: RunConfig, log) -> Inputs:
    """Method, objective, hardware, model source, tokenizer and prepared data, failing before any weights load."""
    method, objective = get_method(config.method.name), get_objective(config.objective.name)
    config, parent = continue_from(config, log)
    config, batch = decide_batch(config, objective)
    hardware = detect(config.model.dtype, config.model.device, config.training.threads)
    log(f"hardware: {hardware.describe()}")
    # Impossible combinations fail here, before any file or weight is read.
    if method.check:
        method.check(config, hardware, objective.task)
    if objective.check:
        objective.check(config)
    check_replay(objective.name, objective.replay, config.data)
    source = resolve_model(config.model.name, log)
    log(f"model: {config.model.name} ({source.origin}: {source.path})")
    check_model_kind(source, objective.model_kind, config.model.revision, config.model.trust_remote_code)
    tokenizer = load_tokenizer(source, config.model.revision, config.model.trust_remote_code)
    config, lengths = decide_lengths(config, objective, source, tokenizer)
    data = objective.prepare_data(config, tokenizer)
    for warning in data.data_report.get("warnings", []):
        log(f"warning: {warning}")
    log(describe_cleaning(data.data_report))
    if "replay" in data.data_report:
        log(describe_replay(data.data_report["replay"]))
    if cut := describe_lengths(data.data_report, config.data.max_length):
        log(cut)
    log("data: " + "; ".join(f"{k} {v['examples']} examples, {v['tokens']} tokens ({v['loss_tokens']} with loss)"
                             for k, v in data.report.items()))
    return Inputs(method, objective, hardware, source, tokenizer, data, config, {**batch, **lengths}, parent)


def _write_split(path: Path, examples) -> str:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as handle:
        for example in examples:
            handle.write(json.dumps({**openai_row(example.messages), "_source": example.source}) + "\n")
    os.replace(tmp, path)
    return file_sha256(str(path))


def prepare_run(config: RunConfig, console) -> Path:
    """`tunesmith data prepare`: a run folder (status "prepared") holding the cleaned splits and the data report."""
    log = RunLog(console)
    data = prepare_inputs(config, log).data
    run = create_run(config, status="prepared")
    log.attach(run)
    staging = run / ".data.tmp"
    staging.mkdir()
    hashes = {name: _write_split(staging / f"{name}.jsonl", examples) for name, examples in data.splits.items()}
    write_json(staging / "data_report.json", {**data.data_report, "tokens": data.report})
    shutil.move(str(staging), str(run / "data"))
    update_manifest(run, prepared_data_sha256=hashes, data_report={**data.data_report, "tokens": data.report})
    log(f"prepared data written to {run / 'data'}; train it with: tunesmith train {run / 'config.yaml'}")
    return run
