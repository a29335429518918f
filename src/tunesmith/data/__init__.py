"""Prepare data: load → validate → clean → deduplicate → split → leakage check → tokenize → report.

`prepare_splits(cfg, schema)` is the stage's entry point for every objective; `prepare_chat_data` adds the
chat-template tokenization with loss masks that SFT needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tunesmith.config import DataConfig
from tunesmith.data.pipeline import prepare_splits
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
    report: dict = field(default_factory=dict)  # per split: examples, tokens, loss tokens, longest
    data_report: dict = field(default_factory=dict)  # the pipeline's counts: formats, cleaning, dedup, leakage


def load_splits(cfg: DataConfig) -> tuple[dict[str, list[ChatExample]], dict]:
    """Cleaned chat examples per split, and the data report."""
    splits, report = prepare_splits(cfg, "chat")
    examples = {name: [ChatExample(row["_source"], row["messages"]) for row in ds] for name, ds in splits.items()}
    return examples, report


def _length_problems(name: str, examples: list[ChatExample], rows: list[dict], max_length: int) -> tuple[list, int]:
    too_long = [(ex.source, len(r["input_ids"])) for ex, r in zip(examples, rows) if len(r["input_ids"]) > max_length]
    return too_long, sum(n - max_length for _, n in too_long)


def _apply_length_policy(name, examples, rows, cfg: DataConfig, report: dict):
    too_long, lost = _length_problems(name, examples, rows, cfg.max_length)
    if not too_long:
        return examples, rows
    if cfg.too_long == "error":
        first, length = too_long[0]
        raise UserError(
            f"{first}: example is {length} tokens, longer than data.max_length={cfg.max_length}; "
            f"{len(too_long)} {name} example(s) too long, {lost} tokens would be cut",
            hint="raise data.max_length, shorten those examples, or set data.too_long=drop",
        )
    report.setdefault("dropped_too_long", {})[name] = len(too_long)
    long_sources = {source for source, _ in too_long}
    keep = [i for i, ex in enumerate(examples) if ex.source not in long_sources]
    return [examples[i] for i in keep], [rows[i] for i in keep]


def prepare_chat_data(cfg: DataConfig, tokenizer, loss_on: str = "assistant") -> PreparedData:
    """Everything the SFT objective needs, checked before any model weights load."""
    splits, report = load_splits(cfg)
    prepared = PreparedData({}, data_report=report)
    for name, examples in splits.items():
        rows = [tokenize_chat(tokenizer, ex.messages, loss_on) for ex in examples]
        examples, rows = _apply_length_policy(name, examples, rows, cfg, prepared.data_report)
        empty = [ex.source for ex, row in zip(examples, rows) if all(label == IGNORE for label in row["labels"])]
        if empty:
            raise UserError(f"{empty[0]}: no token carries loss (every assistant message has weight 0)")
        prepared.splits[name], prepared.tokenized[name] = examples, rows
        tokens = [len(r["input_ids"]) for r in rows]
        prepared.report[name] = {
            "examples": len(rows),
            "tokens": sum(tokens),
            "loss_tokens": sum(sum(label != IGNORE for label in r["labels"]) for r in rows),
            "longest": max(tokens, default=0),
        }
    return prepared


__all__ = ["ChatExample", "PreparedData", "load_splits", "prepare_chat_data", "prepare_splits", "render",
           "tokenize_chat"]
