"""Federated fine-tuning on the shipped intents example (issue #18): federated LoRA on non-IID clients against
centralised training, federated IID and each client alone, all on the same test split.

    .venv/bin/python benchmarks/federated.py [--config examples/federated_intents.yaml] [--keep DIR] [--set K=V ...]

Runs `tunesmith federate` on the config (Flower's simulation engine, one process per client), prints the table and
the validation metric after every round, and writes benchmarks/results/federated.json with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (the sibling benchmark: machine_info)
from rich.console import Console  # noqa: E402

from tunesmith.config import load_config  # noqa: E402
from tunesmith.federated.report import COLUMNS, system_rows  # noqa: E402
from tunesmith.federated.compare import run_federation  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "federated.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=Path("examples/federated_intents.yaml"))
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="tunesmith-federated-"))
    config = load_config(args.config, [*args.overrides, f"output.dir={out}", "output.name=federation"])
    started = time.perf_counter()
    run = run_federation(config, Console(quiet=True))
    result = json.loads((run / "federated.json").read_text())
    for name, rounds in result["rounds"].items():
        print(f"{name}: validation accuracy by round " +
              " ".join(f"{r['validation'].get('accuracy', float('nan')):.3f}" for r in rounds))
    print(" | ".join(COLUMNS))
    for row in system_rows(result):
        print(" | ".join(row))
    RESULTS.write_text(json.dumps({"machine": quality.machine_info(), "config": str(args.config),
                                   "overrides": args.overrides, "seconds": round(time.perf_counter() - started),
                                   "result": result}, indent=2) + "\n")
    print(f"\nwrote {RESULTS}; runs in {run}")


if __name__ == "__main__":
    main()
