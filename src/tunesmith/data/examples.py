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


LONGEST = 1024  # data.max_length where neither the config nor the run decided one (objectives/lengths.py decides)


def length_limit(cfg: DataConfig) -> tuple[int, str]:
    """(data.max_length, data.too_long) with the data layer's defaults where a run has not decided them."""
    return cfg.max_length or LONGEST, cfg.too_long or "error"


def keep_within_length(name: str, sources: list[str], lengths: list[int], cfg: DataConfig, report: dict) -> list[int]:
    """Indices of the examples to keep: those that fit data.max_length; longer ones stop the run, or are dropped,
    or (too_long=truncate) kept for the objective to cut; counted in the report."""
    limit, mode = length_limit(cfg)
    too_long = [(source, n) for source, n in zip(sources, lengths) if n > limit]
    if too_long and mode == "error":
        first, length = too_long[0]
        lost = sum(n - limit for _, n in too_long)
        raise UserError(
            f"{first}: example is {length} tokens, longer than data.max_length={limit}; "
            f"{len(too_long)} {name} example(s) too long, {lost} tokens would be cut",
            hint="raise data.max_length, shorten those examples, or set data.too_long=drop",
        )
    if too_long:
        report.setdefault(f"{'truncated' if mode == 'truncate' else 'dropped'}_too_long", {})[name] = len(too_long)
    if mode == "truncate":  # the objective cuts them (only one that can, see objectives/lengths.py)
        return list(range(len(lengths)))
    return [i for i, n in enumerate(lengths) if n <= limit]

def split_stats(rows: list[dict]) -> dict:
    tokens = [len(r["input_ids"]) for r in rows]
    loss = sum(sum(label != IGNORE for label in r["labels"]) if isinstance(r.get("labels"), list) else 1
               for r in rows)
    return {"examples": len(rows), "tokens": sum(tokens), "loss_tokens": loss, "longest": max(tokens, default=0)}
