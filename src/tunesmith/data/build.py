"""Turn records into a typed `datasets.Dataset` on disk, collecting every validation error with its place."""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.formats import to_schema
from tunesmith.data.load import iter_records
from tunesmith.errors import UserError

MAX_ERRORS_SHOWN = 10
EMPTY = {"classification": {"text_pair": None}}  # optional columns a row may leave out


def features(schema: str):
    from datasets import Features, List, Value

    # tool_calls and tools are JSON strings (see data/tools.py): their argument objects differ from row to row.
    message = {"role": Value("string"), "content": Value("string"), "weight": Value("int8"),
               "tool_calls": Value("string"), "tool_call_id": Value("string"), "reasoning": Value("string"),
               "tools": Value("string")}
    columns = {
        "chat": {"messages": List(message)},
        "text": {"text": Value("string")},
        # text_pair: a sentence pair's second text; null for single-text rows
        "classification": {"text": Value("string"), "text_pair": Value("string"), "label": Value("string")},
        "preference": {"prompt": List(message), "chosen": Value("string"), "rejected": Value("string")},
    }[schema]
    return Features({**columns, "_source": Value("string")})


def _raise_collected(errors: list[UserError], total: int, spec: str) -> None:
    shown = [e.message for e in errors[:MAX_ERRORS_SHOWN]]
    more = f"\n... and {total - len(shown)} more problems" if total > len(shown) else ""
    raise UserError("\n".join(shown) + more if total > 1 else shown[0],
                    hint=errors[0].hint or f"fix {spec} and run again; nothing was trained")


def build_dataset(spec: str, schema: str, folder: Path, *, columns: dict, system_prompt: str | None,
                  labels: list[str] | None, batch_size: int = 10_000):
    """(Dataset memory-mapped from folder/rows.arrow, detected format, raw record count)."""
    from datasets import Dataset
    from datasets.arrow_writer import ArrowWriter

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rows.arrow"
    errors: list[UserError] = []
    total_errors, count, fmt = 0, 0, None
    with ArrowWriter(features=features(schema), path=str(path)) as writer:
        for record in iter_records(spec, columns=columns):
            count += 1
            try:
                kind, row = to_schema(record, schema, system_prompt, labels, expected=fmt)
            except UserError as exc:
                total_errors += 1
                if len(errors) < MAX_ERRORS_SHOWN:
                    errors.append(exc)
                if "one file must use one format" in exc.message:
                    break  # every later row would repeat the same complaint
                continue
            fmt = fmt or kind
            writer.write({**EMPTY.get(schema, {}), **row, "_source": record.source})
        writer.finalize()
    if errors:
        _raise_collected(errors, total_errors, spec)
    if count == 0:
        raise UserError(f"{spec}: the dataset is empty (no examples)")
    return Dataset.from_file(str(path)), fmt, count
