"""What each cleaning step does to the test metric: tunesmith's defaults trained on the same split with the
deduplication steps switched off one at a time (issue #21, item 2).

    .venv/bin/python benchmarks/cleaning.py [--tasks sentiment_minilm,sentiment_smollm2_head] [--keep DIR]

Uses benchmarks/quality.py's tasks, split and scorer; the test file is scored as given (every row) in every
variant. Prints rows removed per step and accuracy with its 95% interval, and writes
benchmarks/results/cleaning.json with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (the sibling benchmark: tasks, split, runner, scorer)

VARIANTS = {
    "all steps (default)": [],
    "no near-duplicate removal": ["--set", "data.clean.dedup_near=false"],
    "no deduplication": ["--set", "data.clean.dedup_near=false", "--set", "data.clean.dedup_exact=false"],
}


def removed(run_dir: str) -> dict:
    report = json.loads((Path(run_dir) / "manifest.json").read_text()).get("data_report") or {}
    source = (report.get("sources") or {}).get("train") or {}
    return {k: v for k, v in source.items() if k.startswith("dropped") and isinstance(v, int)} | {
        "train_rows": (report.get("rows") or {}).get("train")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="sentiment_minilm,sentiment_smollm2_head")
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="tunesmith-cleaning-"))
    results = {"machine": quality.machine_info(), "tasks": {}}
    for name in args.tasks.split(","):
        task, folder = quality.TASKS[name], base / name
        folder.mkdir(parents=True, exist_ok=True)
        data = quality.write_split(task, False, folder)
        config = quality.defaults_config(task, data, folder)
        for variant, extra in VARIANTS.items():
            out = folder / variant.split(" (")[0].replace(" ", "_")
            out.mkdir(exist_ok=True)
            result = quality.run_tunesmith(config, out, extra)
            if result["status"] != "ok":
                print(f"{name} / {variant}: failed\n{result['error']}")
                continue
            scored = quality.score(task.kind, result["predictions"], result["references"])
            row = {**scored, **removed(result["run_dir"]), "wall_seconds": round(result["wall_seconds"], 1)}
            results["tasks"].setdefault(name, {})[variant] = row
            low, high = row["accuracy_ci95"]
            print(f"{name} / {variant}: accuracy {row['accuracy']:.1%} [{low:.1%}, {high:.1%}] (n={row['n']}), "
                  f"train rows {row['train_rows']}, removed {({k: v for k, v in row.items() if k.startswith('dropped')})}")
    target = quality.RESULTS / "cleaning.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
