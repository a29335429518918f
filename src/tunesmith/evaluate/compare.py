"""Score the base and the fine-tuned model on the same held-out examples, side by side, with a bootstrap CI."""

from __future__ import annotations

import random
from collections.abc import Callable

from tunesmith.evaluate.metrics import METRICS


def bootstrap_ci(differences: list[float], samples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean paired difference, resampling examples."""
    if not differences:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(samples))
    return means[int(0.025 * samples)], means[int(0.975 * samples) - 1]


def score(replies: list[str], references: list[str], metrics: list[str]) -> dict[str, list[float]]:
    return {name: [METRICS[name](p, r) for p, r in zip(replies, references)] for name in metrics}


def compare_with_base(generate_base: Callable, generate_tuned: Callable, conversations: list[list[dict]],
                      references: list[str], metrics: list[str]) -> dict:
    """Both models answer the same prompts; per-metric means, difference and its 95% bootstrap interval."""
    base_replies, tuned_replies = generate_base(conversations), generate_tuned(conversations)
    base_scores, tuned_scores = score(base_replies, references, metrics), score(tuned_replies, references, metrics)
    table = {}
    for name in metrics:
        b, t = base_scores[name], tuned_scores[name]
        diffs = [y - x for x, y in zip(b, t)]
        table[name] = {"base": sum(b) / len(b), "tuned": sum(t) / len(t), "delta": sum(diffs) / len(diffs),
                       "delta_ci95": bootstrap_ci(diffs)}
    samples = [
        {"prompt": conv[-1]["content"], "reference": ref, "base": b, "tuned": t}
        for conv, ref, b, t in zip(conversations, references, base_replies, tuned_replies)
    ]
    return {"examples": len(references), "metrics": table, "samples": samples}
