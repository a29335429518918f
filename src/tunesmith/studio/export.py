"""Ratings → training data that `tunesmith train` reads as it is.

preferences.jsonl: {"prompt", "chosen", "rejected"} for `objective.name: dpo` (or kto, reward_model). A pick gives
one row; a written correction is better than both candidates, so it gives one row against each of them. Ties,
skips, and pairs whose answers are empty or the same teach no preference and are counted, not exported.
corrections.jsonl: {"messages": [..., {"role": "assistant", "content": correction}]} for `objective.name: sft`.

A prompt that is one user turn is written as a string; one with a system message or earlier turns as the message
list, so training sees the same conversation the candidates answered.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.runs import write_atomic


def prompt_field(messages: list[dict]):
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return messages


def _usable(chosen: str | None, rejected: str | None) -> bool:
    return bool(chosen and chosen.strip() and rejected and rejected.strip() and chosen.strip() != rejected.strip())


def preference_rows(pairs: list[dict]) -> tuple[list[dict], int]:
    """(rows, rated pairs that gave no row)."""
    rows, unused = [], 0
    for pair in pairs:
        answers = {"a": pair["answer_a"], "b": pair["answer_b"]}
        if pair["choice"] in ("a", "b"):
            other = "b" if pair["choice"] == "a" else "a"
            candidates = [(answers[pair["choice"]], answers[other])]
        elif pair["choice"] == "correction":
            candidates = [(pair["correction"], answer) for answer in dict.fromkeys(answers.values())]
        else:
            candidates = []
        made = [{"prompt": prompt_field(pair["messages"]), "chosen": chosen, "rejected": rejected}
                for chosen, rejected in candidates if _usable(chosen, rejected)]
        rows += made
        unused += not made
    return rows, unused


def wins(pairs: list[dict]) -> dict[str, int]:
    """How often each model's answer was picked over the other's: a human evaluation of two runs."""
    counts: dict[str, int] = {}
    for pair in pairs:
        for side in ("a", "b"):
            counts.setdefault(pair[f"source_{side}"], 0)
        if pair["choice"] in ("a", "b"):
            counts[pair[f"source_{pair['choice']}"]] += 1
    return counts


def correction_rows(pairs: list[dict]) -> list[dict]:
    return [{"messages": [*pair["messages"], {"role": "assistant", "content": pair["correction"]}]}
            for pair in pairs if pair["choice"] == "correction" and (pair["correction"] or "").strip()]


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_exports(pairs: list[dict], folder: Path, stem: str) -> dict:
    """Write both files (atomically, so a reader never sees half of one) and say what is in them."""
    folder.mkdir(parents=True, exist_ok=True)
    preferences, unused = preference_rows(pairs)
    corrections = correction_rows(pairs)
    paths = {"preferences": folder / f"{stem}-preferences.jsonl", "corrections": folder / f"{stem}-corrections.jsonl"}
    write_atomic(paths["preferences"], to_jsonl(preferences))
    write_atomic(paths["corrections"], to_jsonl(corrections))
    return {"paths": paths, "preference_rows": len(preferences), "correction_rows": len(corrections),
            "rated": len(pairs), "unused": unused}
