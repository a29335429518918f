"""Evaluate: task metrics and the base-vs-fine-tuned comparison on held-out data."""

from tunesmith.evaluate.compare import bootstrap_ci, compare_with_base, score
from tunesmith.evaluate.metrics import METRICS

__all__ = ["METRICS", "bootstrap_ci", "compare_with_base", "score"]
