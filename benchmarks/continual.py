"""Continual fine-tuning on the shipped intents sequence (issue #18): plain sequential training against each
mitigation, on the same three stages and test sets.

    .venv/bin/python benchmarks/continual.py [--config examples/continual_intents.yaml] [--keep DIR] [--set K=V ...]

Runs `tunesmith continual` on the config, prints every mitigation's accuracy matrix and what it kept, and writes
benchmarks/results/continual.json (matrix, backward/forward transfer, each task from its own stage to the end with
the paired 95% interval, train seconds) with the machine it ran on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402  (the sibling benchmark: machine_info)
from rich.console import Console  # noqa: E402

from tunesmith.continual.report import comparison_rows, matrix_rows  # noqa: E402
from tunesmith.continual.sequence import run_continual  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "continual.json"


def main() -> None:
    args, config = quality.example_config("examples/continual_intents.yaml", "sequence")
    folder = run_continual(config, Console(quiet=True))
    result = json.loads((folder / "continual.json").read_text())
    names = [t["name"] for t in result["tasks"]]
    for mitigation, sequence in result["sequences"].items():
        print(f"\n{mitigation} ({sequence['seconds']} s training):")
        for row in matrix_rows(sequence, names):
            print("  " + " | ".join(row))
    headers, rows = comparison_rows(result)
    print("\n" + " | ".join(headers))
    for row in rows:
        print(" | ".join(row))
    for sequence in result["sequences"].values():
        for row in [sequence["base"], *sequence["matrix"]]:
            for cell in row:
                cell.pop("scores", None)  # per-row scores stay in the run folder
    quality.write_results(RESULTS, args, result)
    print(f"\nwrote {RESULTS}; runs in {folder}")


if __name__ == "__main__":
    main()
