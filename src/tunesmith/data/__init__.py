"""Prepare data: load → validate → clean → deduplicate → split → leakage check → tokenize → report.

`prepare_splits(cfg, schema)` is the stage's entry point for every objective; `prepare_chat_data` adds the
chat-template tokenization with loss masks that SFT needs.
"""

from __future__ import annotations

from tunesmith.config import DataConfig
from tunesmith.data.examples import (
    ChatExample,
    PreparedData,
    keep_within_length,
    split_stats,
)
from tunesmith.data.pipeline import prepare_splits
from tunesmith.data.replay import file_replay
from tunesmith.data.tokenize import IGNORE, render, tokenize_chat
from tunesmith.data.tools import template_used, uses_tools
from tunesmith.errors import UserError


def load_splits(cfg: DataConfig) -> tuple[dict[str, list[ChatExample]], dict]:
    """Cleaned chat examples per split, and the data report."""
    splits, report = prepare_splits(cfg, "chat")
    examples = {name: [ChatExample(row["_source"], _present(row["messages"])) for row in ds]
                for name, ds in splits.items()}
    return examples, report


def _present(messages: list[dict]) -> list[dict]:
    """Messages read back from Arrow carry every field of the stored form; keep the ones a message has."""
    return [{k: v for k, v in m.items() if v is not None} for m in messages]


def prepare_chat_data(cfg: DataConfig, tokenizer, loss_on: str = "assistant",
                      train_reasoning: bool = True) -> PreparedData:
    """Everything the SFT objective needs, checked before any model weights load."""
    splits, report = load_splits(cfg)
    if cfg.replay.source not in (None, "base"):
        held_out = ["\n".join(m["content"] for m in ex.messages) for name in ("validation", "test")
                    for ex in splits.get(name, [])]
        rows, report["replay"] = file_replay(cfg, "chat", len(splits["train"]), held_out)
        splits["train"] = splits["train"] + [ChatExample(r["_source"], r["messages"]) for r in rows]
    if any(uses_tools(ex.messages) for examples in splits.values() for ex in examples):
        report["tool_template"] = template_used(tokenizer, "auto")
    prepared = PreparedData({}, data_report=report)
    for name, examples in splits.items():
        rows = [tokenize_chat(tokenizer, ex.messages, loss_on, train_reasoning) for ex in examples]
        keep = keep_within_length(name, [ex.source for ex in examples], [len(r["input_ids"]) for r in rows], cfg,
                                  prepared.data_report)
        examples, rows = [examples[i] for i in keep], [rows[i] for i in keep]
        empty = [ex.source for ex, row in zip(examples, rows) if all(label == IGNORE for label in row["labels"])]
        if empty:
            raise UserError(f"{empty[0]}: no token carries loss (every assistant message has weight 0)")
        prepared.splits[name], prepared.tokenized[name] = examples, rows
        prepared.report[name] = split_stats(rows)
    return prepared


__all__ = ["ChatExample", "PreparedData", "keep_within_length", "load_splits", "split_stats", "prepare_chat_data",
           "prepare_splits", "render", "tokenize_chat"]
