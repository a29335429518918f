"""Run directories: create, manifest (config, data hashes, versions, seed, status), resume, list.

Layout of runs/<name>/: config.yaml, manifest.json, metrics.jsonl, train.log, checkpoints/, adapter/ or model/,
eval.json, summary.json. Every file is written to a temporary name and renamed into place, and an existing run
directory is never reused by a new run, so a failed or interrupted run cannot damage an earlier one.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

from tunesmith.config import RunConfig, build_config, dump_config, read_yaml
from tunesmith.errors import UserError

LIBRARIES = ("tunesmith", "torch", "transformers", "peft", "trl", "datasets", "accelerate")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, value) -> None:
    write_atomic(path, json.dumps(value, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def file_sha256(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def default_name(config: RunConfig) -> str:
    return f"{config.objective.name}-{config.method.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run(config: RunConfig, status: str = "created") -> Path:
    """A new run directory holding the resolved config and a manifest; refuses to reuse a name, except to train
    a folder that `tunesmith data prepare` made for exactly this config."""
    root = Path(config.output.dir)
    name = config.output.name or default_name(config)
    resolved = config.model_copy(deep=True)
    resolved.output.name = name  # so `tunesmith train RUN/config.yaml` finds this folder again
    run = root / name
    if run.exists():
        if _prepared_for(run, resolved) and status != "prepared":
            return run
        raise UserError(
            f"run directory {run} already exists; tunesmith never overwrites a run",
            hint=f"pick another output.name, or continue it with `tunesmith train --resume {run}`",
        )
    root.mkdir(parents=True, exist_ok=True)
    run.mkdir()
    write_atomic(run / "config.yaml", dump_config(resolved))
    data = {split: file_sha256(getattr(config.data, split)) for split in ("train", "validation", "test")}
    write_json(run / "manifest.json", {
        "name": name, "status": status, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seed": config.training.seed, "data_sha256": data, "versions": versions(),
    })
    return run


def _prepared_for(run: Path, config: RunConfig) -> bool:
    return (read_json(run / "manifest.json").get("status") == "prepared"
            and (run / "config.yaml").is_file() and (run / "config.yaml").read_text() == dump_config(config))


def record_defaults(run: Path, config: RunConfig, chosen: dict) -> None:
    """The run's config.yaml with the defaults decided for it filled in (a resume reads them back unchanged), and
    what was decided, with why, in the manifest."""
    decided = config.model_copy(deep=True)
    decided.output.name = run.name
    write_atomic(run / "config.yaml", dump_config(decided))
    update_manifest(run, defaults=chosen)


def update_manifest(run: Path, **fields) -> dict:
    manifest = read_json(run / "manifest.json")
    manifest.update(fields, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_json(run / "manifest.json", manifest)
    return manifest


def open_run(path: Path) -> tuple[RunConfig, dict]:
    """The config and manifest of an existing run directory."""
    if not (path / "config.yaml").is_file():
        raise UserError(f"{path} is not a tunesmith run directory (no config.yaml)")
    return build_config(read_yaml(path / "config.yaml"), str(path / "config.yaml")), read_json(path / "manifest.json")


def latest_checkpoint(run: Path) -> Path | None:
    checkpoints = [p for p in (run / "checkpoints").glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def lineage_line(manifest: dict) -> str:
    """The runs this one continued from, oldest first ("a -> b"; "" for a run that started fresh)."""
    return " -> ".join(entry["name"] for entry in manifest.get("lineage", []))


def list_runs(root: Path) -> list[dict]:
    rows = []
    for run in sorted(p for p in root.glob("*") if (p / "config.yaml").is_file()):
        manifest, summary = read_json(run / "manifest.json"), read_json(run / "summary.json")
        rows.append({"run": run.name, "status": manifest.get("status", "?"), "created": manifest.get("created", ""),
                     "from": lineage_line(manifest), **{k: summary[k] for k in ("steps", "final_train_loss", "eval_loss")
                                         if k in summary}})
    return rows
