"""Read example files line by line, keeping the line number of every record for error messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import UserError


@dataclass(frozen=True)
class Record:
    source: str  # "file:line", used in every message about this record
    fields: dict


def iter_jsonl(path: Path) -> Iterator[Record]:
    """Stream a JSONL file; blank lines are skipped, a malformed line is an error naming file and line."""
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(value, dict):
                raise UserError(f"{where}: expected a JSON object, got {type(value).__name__}")
            yield Record(where, value)


def read_records(path: Path) -> list[Record]:
    if path.suffix not in (".jsonl", ".json", ".ndjson"):
        raise UserError(f"{path}: unsupported data format '{path.suffix}'", hint="use JSONL, one example per line")
    records = list(iter_jsonl(path))
    if not records:
        raise UserError(f"{path}: the dataset is empty (no examples)")
    return records
