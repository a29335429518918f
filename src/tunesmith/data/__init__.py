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
    labels: list[str] | None = None  # classification: label names in id order


def load_splits(cfg: DataConfig) -> tuple[dict[str, list[ChatExample]], dict]:
    """Cleaned chat examples per split, and the data report."""
    splits, report = prepare_splits(cfg, "chat")
    examples = {name: [ChatExample(row["_source"], row["messages"]) for row in ds] for name, ds in splits.items()}
    return examples, report


def keep_within_length(name: str, sources: list[str], lengths: list[int], cfg: DataConfig, report: dict) -> list[int]:
    """Indices of the examples that fit data.max_length; longer ones stop the run, or are dropped and counted."""
    too_long = [(source, n) for source, n in zip(sources, lengths) if n > cfg.max_length]
    if too_long and cfg.too_long == "error":
        first, length = too_long[0]
        lost = sum(n - cfg.max_length for _, n in too_long)
        raise UserError(
            f"{first}: example is {length} tokens, longer than data.max_length={cfg.max_length}; "
            f"{len(too_long)} {name} example(s) too long, {lost} tokens would be cut",
            hint="raise data.max_length, shorten those examples, or set data.too_long=drop",
        )
    if too_long:
        report.setdefault("dropped_too_long", {})[name] = len(too_long)
    return [i for i, n in enumerate(lengths) if n <= cfg.max_length]


def split_stats(rows: list[dict]) -> dict:
    tokens = [len(r["input_ids"]) for r in rows]
    loss = sum(sum(label != IGNORE for label in r["labels"]) if isinstance(r.get("labels"), list) else 1
               for r in rows)
    return {"examples": len(rows), "tokens": sum(tokens), "loss_tokens": loss, "longest": max(tokens, default=0)}


def prepare_chat_data(cfg: DataConfig, tokenizer, loss_on: str = "assistant") -> PreparedData:
    """Everything the SFT objective needs, checked before any model weights load."""
    splits, report = load_splits(cfg)
    if cfg.replay.source not in (None, "base"):
        from tunesmith.data.replay import file_replay

        held_out = ["\n".join(m["content"] for m in ex.messages) for name in ("validation", "test")
                    for ex in splits.get(name, [])]
        rows, report["replay"] = file_replay(cfg, "chat", len(splits["train"]), held_out)
        splits["train"] = splits["train"] + [ChatExample(r["_source"], r["messages"]) for r in rows]
    prepared = PreparedData({}, data_report=report)
    for name, examples in splits.items():
        rows = [tokenize_chat(tokenizer, ex.messages, loss_on) for ex in examples]
        keep = keep_within_length(name, [ex.source for ex in examples], [len(r["input_ids"]) for r in rows], cfg,
                                  prepared.data_report)
        examples, rows = [examples[i] for i in keep], [rows[i] for i in keep]
        empty = [ex.source for ex, row in zip(examples, rows) if all(label == IGNORE for label in row["labels"])]
        if empty:
            raise UserError(f"{empty[0]}: no token carries loss (every assistant message has weight 0)")
        prepared.splits[name], prepared.tokenized[name] = examples, rows
        prepared.report[name] = split_stats(rows)
    return prepared


__all__ = ["ChatExample", "PreparedData", "keep_within_length", "load_splits", "split_stats", "prepare_chat_data", "prepare_splits", "render",
           "tokenize_chat"]
