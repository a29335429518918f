"""Read examples from files, folders and the Hub, streaming, with the place of every record kept for messages.

Every loader yields Record(source, fields): `source` is "file:line" (JSONL, JSON, CSV/TSV), "file:row N" (Parquet,
datasets folders, Hub) or the file name (a folder of .txt files), so every later error can point at the place.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import UserError

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
            ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Record:
    source: str
    fields: dict


def _check_text_file(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(8192)
    if b"\x00" in head:
        raise UserError(f"{path}: looks like a binary file, not text (found NUL bytes near the start)")


def iter_jsonl(path: Path) -> Iterator[Record]:
    """One JSON object per line; blank lines are skipped, a malformed line is an error naming file and line."""
    with path.open(encoding="utf-8", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield Record(f"{path}:{number}", _json_object(line, f"{path}:{number}"))
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a block)") from None


def _json_object(text: str, where: str) -> dict:
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError as exc:
        cut = " (the line is cut off: truncated file?)" if "Unterminated" in exc.msg or "Expecting" in exc.msg else ""
        raise UserError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno}){cut}") from None
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _skip_separators(buffer: str, pos: int, line: int) -> tuple[int, int]:
    while pos < len(buffer) and buffer[pos] in " \t\r\n,":
        line += buffer[pos] == "\n"
        pos += 1
    return pos, line


def iter_json_array(path: Path, chunk_size: int = 1 << 20) -> Iterator[Record]:
    """A JSON array of objects, decoded element by element from a sliding buffer (never the whole file at once)."""
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8") as handle:
        buffer = handle.read(chunk_size)
        pos, line = _skip_separators(buffer, 0, 1)
        if buffer[pos : pos + 1] != "[":  # an object per line saved as .json
            yield from iter_jsonl(path)
            return
        pos += 1
        while True:
            pos, line = _skip_separators(buffer, pos, line)
            if buffer[pos : pos + 1] == "]":
                return
            try:
                if pos == len(buffer):
                    raise json.JSONDecodeError("end of buffer", buffer, pos)
                value, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError as exc:
                more = handle.read(chunk_size)
                if not more:  # the element really is broken, or the file ends inside it
                    where = line + buffer.count("\n", pos, max(exc.pos, pos))
                    raise UserError(f"{path}:{where}: invalid JSON or the array is not closed "
                                    f"({exc.msg}; truncated file?)") from None
                buffer, pos = buffer[pos:] + more, 0
                continue
            if not isinstance(value, dict):
                raise UserError(f"{path}:{line}: expected a JSON object in the array, got {type(value).__name__}")
            yield Record(f"{path}:{line}", value)
            line += buffer.count("\n", pos, end)
            pos = end


def iter_csv(path: Path, delimiter: str) -> Iterator[Record]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            return
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise UserError(f"{where}: {len(row)} fields but the header has {len(header)} "
                                f"({', '.join(header)}); a ragged row or an unquoted delimiter")
            yield Record(where, dict(zip(header, row)))


def iter_parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None
    row = 0
    for batch in table.iter_batches(batch_size=4096):
        for fields in batch.to_pylist():
            row += 1
            yield Record(f"{path}:row {row}", fields)


def iter_text_folder(path: Path) -> Iterator[Record]:
    files = sorted(path.rglob("*.txt"))
    if not files:
        raise UserError(f"{path}: folder has no .txt files and is not a saved `datasets` folder")
    for file in files:
        _check_text_file(file)
        yield Record(str(file), {"text": file.read_text(encoding="utf-8", errors="replace")})


def iter_datasets_rows(dataset, name: str) -> Iterator[Record]:
    for row, fields in enumerate(dataset, 1):
        yield Record(f"{name}:row {row}", dict(fields))


def load_saved_or_hub(spec: str, split: str | None):
    """A `save_to_disk` folder or a Hub dataset id, as a datasets.Dataset of the requested split."""
    import datasets

    path = Path(spec)
    try:
        loaded = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.load_dataset(spec)
    except (FileNotFoundError, ConnectionError, OSError, ValueError) as exc:
        if path.exists():
            raise UserError(f"{spec}: not a dataset folder saved with save_to_disk ({str(exc)[:120]})") from None
        raise UserError(f"could not load dataset '{spec}' from the Hugging Face Hub: {str(exc).splitlines()[0][:160]}",
                        hint="offline? save it elsewhere with save_to_disk or as JSONL and point data.train at it") from None
    if isinstance(loaded, datasets.DatasetDict):
        split = split or "train"
        if split not in loaded:
            raise UserError(f"{spec}: has splits {', '.join(loaded)}, not '{split}'")
        return loaded[split]
    return loaded


def iter_records(spec: str, split: str | None = None, columns: dict[str, str] | None = None) -> Iterator[Record]:
    """Records from any supported source; `columns` renames fields (source name → tunesmith name)."""
    records = _iter_source(spec, split)
    if not columns:
        yield from records
        return
    for record in records:
        yield Record(record.source, {columns.get(k, k): v for k, v in record.fields.items()})


def _iter_source(spec: str, split: str | None) -> Iterator[Record]:
    path = Path(spec).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return iter_datasets_rows(load_saved_or_hub(str(path), split), str(path))
        return iter_text_folder(path)
    if path.is_file():
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise UserError(f"{path}: unsupported file type '{path.suffix}'",
                            hint="use JSONL, JSON, CSV, TSV, Parquet, a folder of .txt files or a save_to_disk folder")
        if kind != "parquet":
            _check_text_file(path)
        return {"jsonl": lambda: iter_jsonl(path), "json": lambda: iter_json_array(path),
                "csv": lambda: iter_csv(path, ","), "tsv": lambda: iter_csv(path, "\t"),
                "parquet": lambda: iter_parquet(path)}[kind]()
    if "/" in spec and not spec.startswith((".", "/", "~")) and not path.suffix:
        return iter_datasets_rows(load_saved_or_hub(spec, split), spec)
    raise UserError(f"data file not found: {spec}")


def read_records(spec: str | Path, columns: dict[str, str] | None = None) -> list[Record]:
    """All records of a (small) source; an empty source is an error."""
    records = list(iter_records(str(spec), columns=columns))
    if not records:
        raise UserError(f"{spec}: the dataset is empty (no examples)")
    return records
