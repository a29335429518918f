"""Federated fine-tuning on the shipped intents example (issue #18): federated LoRA on non-IID clients against
centralised training, federated IID and each client alone, all on the same test split.

    .venv/bin/python benchmarks/federated.py [--config examples/federated_intents.yaml] [--keep DIR] [--set K=V ...]

Runs `tunesmith federate` on the config (Flower's simulation engine, one process per client), prints the table and
the validation metric after every round, and writes benchmarks/results/federated.json with the machine it ran on.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (the sibling benchmark: machine_info)
from rich.console import Console  # noqa: E402

from tunesmith.federated.report import COLUMNS, system_rows  # noqa: E402
from tunesmith.federated.compare import run_federation  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "federated.json"


def main() -> None:
    args, config = quality.example_config("examples/federated_intents.yaml", "federation")
    started = time.perf_counter()
    run = run_federation(config, Console(quiet=True))
    result = json.loads((run / "federated.json").read_text())
    for name, rounds in result["rounds"].items():
        print(f"{name}: validation accuracy by round " +
              " ".join(f"{r['validation'].get('accuracy', float('nan')):.3f}" for r in rounds))
    print(" | ".join(COLUMNS))
    for row in system_rows(result):
        print(" | ".join(row))
    quality.write_results(RESULTS, args, result, seconds=round(time.perf_counter() - started))
    print(f"\nwrote {RESULTS}; runs in {run}")


if __name__ == "__main__":
    main()
