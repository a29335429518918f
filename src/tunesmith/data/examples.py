"""What the data stage hands to objectives: chat examples, prepared splits, and the checks and counts on them."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunesmith.config import DataConfig
from tunesmith.data.tokenize import IGNORE
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
