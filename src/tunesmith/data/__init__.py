"""Prepare data: load → detect format → validate → split → tokenize with loss masks → report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.config import DataConfig
from tunesmith.data.formats import to_messages
from tunesmith.data.load import Record, read_records
from tunesmith.data.split import split_indices
from tunesmith.data.tokenize import IGNORE, render, tokenize_chat
from tunesmith.errors import UserError


@dataclass
class ChatExample:
    source: str  # file:line
    messages: list[dict]


@dataclass
class PreparedData:
    splits: dict[str, list[ChatExample]]
    tokenized: dict[str, list[dict]] = field(default_factory=dict)
    report: dict = field(default_factory=dict)


def _examples(records: list[Record], system_prompt: str | None) -> list[ChatExample]:
    return [ChatExample(r.source, to_messages(r, system_prompt)) for r in records]


def load_splits(cfg: DataConfig) -> dict[str, list[ChatExample]]:
    """Validated chat examples per split; files named in the config win over fractions of train."""
    if not cfg.train:
        raise UserError("no training data: set data.train to a JSONL file", hint="--set data.train=path/to/train.jsonl")
    train = _examples(read_records(Path(cfg.train)), cfg.system_prompt)
    named = {
        name: _examples(read_records(Path(path)), cfg.system_prompt)
        for name, path in (("validation", cfg.validation), ("test", cfg.test))
        if path
    }
    cut = split_indices(
        len(train),
        0.0 if "validation" in named else cfg.validation_size,
        0.0 if "test" in named else cfg.test_size,
        cfg.seed,
    )
    splits = {name: [train[i] for i in idx] for name, idx in cut.items()}
    splits.update(named)
    if not splits["train"]:
        raise UserError(f"{cfg.train}: no examples left for training after the validation/test split")
    return splits


def _check_lengths(name: str, examples: list[ChatExample], rows: list[dict], max_length: int) -> None:
    too_long = [(ex.source, len(row["input_ids"])) for ex, row in zip(examples, rows) if len(row["input_ids"]) > max_length]
    if too_long:
        first, length = too_long[0]
        lost = sum(n - max_length for _, n in too_long)
        raise UserError(
            f"{first}: example is {length} tokens, longer than data.max_length={max_length}; "
            f"{len(too_long)} {name} example(s) too long, {lost} tokens would be cut",
            hint="raise data.max_length, or shorten or remove those examples",
        )


def prepare_chat_data(cfg: DataConfig, tokenizer, loss_on: str = "assistant") -> PreparedData:
    """Everything the SFT objective needs, checked before any training starts."""
    splits = load_splits(cfg)
    prepared = PreparedData(splits)
    for name, examples in splits.items():
        rows = [tokenize_chat(tokenizer, ex.messages, loss_on) for ex in examples]
        _check_lengths(name, examples, rows, cfg.max_length)
        empty = [ex.source for ex, row in zip(examples, rows) if all(label == IGNORE for label in row["labels"])]
        if empty:
            raise UserError(f"{empty[0]}: no token carries loss (every assistant message has weight 0)")
        prepared.tokenized[name] = rows
        tokens = [len(r["input_ids"]) for r in rows]
        prepared.report[name] = {
            "examples": len(rows),
            "tokens": sum(tokens),
            "loss_tokens": sum(sum(label != IGNORE for label in r["labels"]) for r in rows),
            "longest": max(tokens, default=0),
        }
    return prepared


__all__ = ["ChatExample", "PreparedData", "load_splits", "prepare_chat_data", "render", "tokenize_chat"]
