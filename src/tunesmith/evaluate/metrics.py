"""Per-example task metrics for generated text (1.0 = right, 0.0 = wrong)."""

from __future__ import annotations

import json


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def parse_json(text: str):
    """The JSON value in text, or None; tolerates a ```json fence around it, nothing else."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        return json.loads(body)
    except (json.JSONDecodeError, ValueError):
        return None


def exact_match(prediction: str, reference: str) -> float:
    return float(_normalise(prediction) == _normalise(reference))


def valid_json(prediction: str, reference: str) -> float:
    return float(parse_json(prediction) is not None)


def json_exact_match(prediction: str, reference: str) -> float:
    """Same JSON value as the reference (key order and spacing ignored)."""
    predicted, expected = parse_json(prediction), parse_json(reference)
    return float(predicted is not None and predicted == expected)


METRICS = {"exact_match": exact_match, "valid_json": valid_json, "json_exact_match": json_exact_match}
