"""Per-example task metrics for generated text (1.0 = right, 0.0 = wrong, partial credit in between)."""

from __future__ import annotations

import json
import re
from collections import Counter

WORD = re.compile(r"\w+")


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def words(text: str) -> list[str]:
    """Lower-cased word tokens without punctuation: what token-F1 and ROUGE-L compare."""
    return WORD.findall(text.lower())


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


def _f1(overlap: int, predicted: int, expected: int) -> float:
    if not predicted and not expected:
        return 1.0
    if not overlap:
        return 0.0
    precision, recall = overlap / predicted, overlap / expected
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of word precision and recall, counting repeated words as often as they occur (SQuAD style)."""
    predicted, expected = words(prediction), words(reference)
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    return _f1(overlap, len(predicted), len(expected))


def longest_common_subsequence(a: list[str], b: list[str]) -> int:
    """Length of the LCS, one DP row at a time (O(len(a) * len(b)) time, O(len(b)) memory)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over words. Ours, not the rouge-score package: it is a dozen lines, and that package would bring
    nltk and absl along for them."""
    predicted, expected = words(prediction), words(reference)
    return _f1(longest_common_subsequence(predicted, expected), len(predicted), len(expected))


TEXT_METRICS = {"exact_match": exact_match, "valid_json": valid_json, "json_exact_match": json_exact_match,
           "token_f1": token_f1, "rouge_l": rouge_l}
