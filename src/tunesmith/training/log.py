"""The run's voice: lines printed to the console and kept in train.log."""

from __future__ import annotations

import time
from pathlib import Path


class RunLog:
    """Prints to the console and keeps the same lines in the run's train.log."""

    def __init__(self, console):
        self.console = console
        self.path: Path | None = None
        self.pending: list[str] = []

    def attach(self, run: Path) -> None:
        self.path = run / "train.log"
        self._append(self.pending)
        self.pending = []

    def _append(self, lines: list[str]) -> None:
        with self.path.open("a") as handle:
            handle.writelines(f"{time.strftime('%H:%M:%S')} {line}\n" for line in lines)

    def __call__(self, line: str) -> None:
        self.console.print(line, highlight=False, markup=False)
        self._append([line]) if self.path else self.pending.append(line)
