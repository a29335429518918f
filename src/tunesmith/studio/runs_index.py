"""What the studio knows about run directories: which exist under its folder, their status, metrics and files.

A run is named by its path relative to the studio folder ("orders-v2", or "quickstart/sft-lora-..." one level
down, where `tunesmith quickstart` and sweeps put theirs). Names from requests are checked against a strict
pattern and must resolve inside the folder, so a request can never read outside it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from tunesmith.config import RunConfig
from tunesmith.errors import UserError
from tunesmith.models.saved import weights_saved
from tunesmith.runs import lineage_line, list_runs, read_json

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
LIVE = ("created", "prepared", "running")  # statuses whose files may still change
CURVES = ("loss", "eval_loss")
# Validation values that are bookkeeping, or shown elsewhere, rather than a measure of the model.
NOT_METRICS = ("loss", "runtime", "samples_per_second", "steps_per_second", "num_tokens", "entropy", "perplexity",
               "rewards/chosen", "rewards/rejected")
# Files of a run the browser may open; weights and checkpoints are not served.
VIEWABLE = re.compile(r"^(report\.html|[A-Za-z0-9._-]+\.png|config\.yaml|manifest\.json|summary\.json|eval\.json|"
                      r"metrics\.jsonl|train\.log|report\.json)$")


class RunNotFound(UserError):
    """A run name that is malformed or names no run directory under the studio folder."""


def is_run(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def run_ids(root: Path) -> list[str]:
    """Runs directly in `root` and one level below (a quickstart or sweep folder), sorted by name."""
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            if is_run(child):
                found.append(child.name)
            else:
                found += [f"{child.name}/{row['run']}" for row in list_runs(child)]
    return found


def resolve_run(root: Path, run_id: str) -> Path:
    if not RUN_ID.match(run_id or ""):
        raise RunNotFound(f"'{run_id}' is not a run name")
    path = (root / run_id).resolve()
    if not path.is_relative_to(root.resolve()) or not is_run(path):
        raise RunNotFound(f"no run '{run_id}' in {root}")
    return path


def read_metrics(run: Path) -> list[dict]:
    """Rows of metrics.jsonl; a line still being written by the trainer (no newline yet) is left for next time."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def curves(rows: list[dict]) -> dict[str, list[list[float]]]:
    """[step, value] points of the training and validation loss; NaN/inf points are left out of the chart."""
    return {name: [[row["step"], _finite(row[name])] for row in rows if _finite(row.get(name)) is not None]
            for name in CURVES}


def validation_metrics(rows: list[dict]) -> dict[str, float]:
    """The last evaluation's task measures (accuracy, F1, DPO reward accuracy and margin...), without eval_."""
    last = next((row for row in reversed(rows) if "eval_loss" in row), {})
    return {key[5:]: value for key, value in last.items() if key.startswith("eval_") and _finite(value) is not None
            and key[5:] not in NOT_METRICS and not key.startswith(("eval_logits/", "eval_logps/"))}


def summarize(root: Path, run_id: str) -> dict:
    """One row of the runs table: status, times, losses, throughput and the task metrics of the final evaluation."""
    run = resolve_run(root, run_id)
    manifest, summary = read_json(run / "manifest.json"), read_json(run / "summary.json")
    config = _config(run)
    rows = read_metrics(run)
    losses = [r["loss"] for r in rows if _finite(r.get("loss")) is not None]
    evals = [r["eval_loss"] for r in rows if _finite(r.get("eval_loss")) is not None]
    speeds = [r["tokens_per_second"] for r in rows if _finite(r.get("tokens_per_second"))]
    comparison = summary.get("comparison") or {}
    return {
        "id": run_id, "status": manifest.get("status", "?"), "created": manifest.get("created", ""),
        "updated": manifest.get("updated", ""), "model": config.get("model", {}).get("name", "?"),
        "method": config.get("method", {}).get("name", "?"), "objective": config.get("objective", {}).get("name", "?"),
        "step": max((r.get("step", 0) for r in rows), default=0), "steps": summary.get("steps"),
        "train_loss": losses[-1] if losses else None, "eval_loss": evals[-1] if evals else None,
        "best_eval_loss": min(evals) if evals else None,
        "tokens_per_second": round(sum(speeds) / len(speeds), 1) if speeds else None,
        "train_seconds": summary.get("train_seconds"), "error": manifest.get("error") or manifest.get("reason"),
        "metrics": {name: row.get("tuned") for name, row in comparison.items()},
        "validation": validation_metrics(rows),
        "has_weights": weights_saved(run, manifest),
        "report": (run / "report.html").is_file(),
        "continued_from": lineage_line(manifest),
    }


def run_config(root: Path, run_id: str) -> dict:
    return _config(resolve_run(root, run_id))


def _config(run: Path) -> dict:
    """The run's settings with every default filled in (a run written by an older version lacks newer fields, which
    must not show up as differences); the file as written when today's models refuse it."""
    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    try:
        return RunConfig.model_validate(raw).model_dump(mode="json")
    except ValidationError:
        return raw


def details(root: Path, run_id: str) -> dict:
    """Everything the run page shows."""
    run = resolve_run(root, run_id)
    manifest = read_json(run / "manifest.json")
    return {
        **summarize(root, run_id),
        "config_text": (run / "config.yaml").read_text(errors="replace"),
        "config": _config(run),
        "summary": read_json(run / "summary.json"),
        "eval": read_json(run / "eval.json"),
        "data_report": flatten(manifest.get("data_report", {})),
        "hardware": manifest.get("hardware"),
        "log_tail": tail(run / "train.log", 40),
        "files": sorted(p.name for p in run.iterdir() if p.is_file() and VIEWABLE.match(p.name)),
    }


def flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    """A nested report as (dotted key, value) rows, for a plain two-column table."""
    if isinstance(value, dict):
        return [row for key, item in value.items() for row in flatten(item, f"{prefix}{key}.")]
    if isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
        return [row for i, item in enumerate(value) for row in flatten(item, f"{prefix}{i}.")]
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return [(prefix.rstrip("."), shown)]


def tail(path: Path, lines: int) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64_000))  # a long log is read from its end only
        return "\n".join(handle.read().decode(errors="replace").splitlines()[-lines:])


def config_differences(configs: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """(dotted key, value per run) for every setting that is not the same in all the runs compared."""
    flat = {run: dict(flatten(config)) for run, config in configs.items()}
    keys = sorted(key for key in {k for values in flat.values() for k in values} if not key.startswith("output."))
    rows = []
    for key in keys:
        values = [flat[run].get(key, "-") for run in configs]
        if len(set(values)) > 1:
            rows.append((key, values))
    return rows


def compare(root: Path, ids: list[str]) -> dict:
    runs = [summarize(root, run_id) for run_id in ids]
    configs = {run_id: _config(resolve_run(root, run_id)) for run_id in ids}
    metric_names = sorted({name for run in runs for name in run["metrics"]})
    validation_names = sorted({name for run in runs for name in run["validation"]})
    return {"runs": runs, "differences": config_differences(configs), "metric_names": metric_names,
            "validation_names": validation_names}
