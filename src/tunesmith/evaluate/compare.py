"""Score the base and the fine-tuned model on the same held-out examples, side by side, with a paired bootstrap
95% interval of the difference, so a real gain can be told from noise."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tunesmith.metrics import LENGTHS, METRICS

SAMPLES = 2000


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if len(values) else 0.0


def _resampled_indices(n: int, samples: int, seed: int):
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def _interval(values) -> tuple[float, float]:
    import numpy as np

    lo, hi = np.percentile(np.asarray(values, dtype=float), [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_ci(differences: Sequence[float], samples: int = SAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean paired difference, resampling examples."""
    import numpy as np

    if not len(differences):
        return (0.0, 0.0)
    values = np.asarray(differences, dtype=float)
    return _interval(values[_resampled_indices(len(values), samples, seed)].mean(axis=1))


def paired_bootstrap(base: Sequence, tuned: Sequence, statistic: Callable[[list], float], samples: int = 1000,
                     seed: int = 0) -> tuple[float, float]:
    """95% interval of statistic(tuned) - statistic(base) for statistics that are not a mean of per-example values
    (macro-F1, perplexity): both models are rescored on the same resampled examples, which keeps the pairing."""
    if not len(base):
        return (0.0, 0.0)
    deltas = []
    for rows in _resampled_indices(len(base), samples, seed).tolist():
        deltas.append(statistic([tuned[i] for i in rows]) - statistic([base[i] for i in rows]))
    return _interval(deltas)


def metric_row(base: Sequence, tuned: Sequence, statistic: Callable[[list], float] | None = None,
               higher_is_better: bool | None = True, scale: str = "fraction") -> dict:
    """One line of the comparison table. Without a statistic, values are per-example scores and the mean is used.
    scale: "fraction" (shown as a percentage) or "value" (a plain number: perplexity, margins). higher_is_better
    None: a quantity with no better direction (a trace's length)."""
    if statistic is None:
        diffs = [t - b for b, t in zip(base, tuned, strict=True)]
        row = {"base": mean(base), "tuned": mean(tuned), "delta": mean(diffs), "delta_ci95": bootstrap_ci(diffs)}
    else:
        b, t = statistic(list(base)), statistic(list(tuned))
        row = {"base": b, "tuned": t, "delta": t - b, "delta_ci95": paired_bootstrap(base, tuned, statistic)}
    return {**row, "higher_is_better": higher_is_better, "scale": scale}


def score(replies: list[str], references: list[str], metrics: list[str]) -> dict[str, list[float]]:
    return {name: [METRICS[name](p, r) for p, r in zip(replies, references)] for name in metrics}


def compare_replies(base_replies: list[str], tuned_replies: list[str], references: list[str],
                    metrics: list[str]) -> dict[str, dict]:
    """One row per metric, over the examples it applies to (a metric scores None where it does not: a call
    metric on a row whose reference makes no call); `examples` says how many that was."""
    base_scores, tuned_scores = score(base_replies, references, metrics), score(tuned_replies, references, metrics)
    rows = {}
    for name in metrics:
        pairs = [(b, t) for b, t in zip(base_scores[name], tuned_scores[name]) if b is not None and t is not None]
        row = metric_row([b for b, _ in pairs], [t for _, t in pairs],
                         **({"higher_is_better": None, "scale": "value"} if name in LENGTHS else {}))
        rows[name] = {**row, "examples": len(pairs)} if len(pairs) != len(references) else row
    return rows


def compare_with_base(generate_base: Callable, generate_tuned: Callable, conversations: list[list[dict]],
                      references: list[str], metrics: list[str]) -> dict:
    """Both models answer the same prompts; per-metric means, difference and its 95% bootstrap interval."""
    base_replies, tuned_replies = generate_base(conversations), generate_tuned(conversations)
    samples = [
        {"prompt": conv[-1]["content"], "reference": ref, "base": b, "tuned": t}
        for conv, ref, b, t in zip(conversations, references, base_replies, tuned_replies)
    ]
    return {"examples": len(references), "metrics": compare_replies(base_replies, tuned_replies, references, metrics),
            "samples": samples}
