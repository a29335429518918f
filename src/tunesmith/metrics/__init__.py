"""Metric functions over plain lists: text answers (text.py), tool calls and reasoning traces in replies (tools.py)
and class predictions (classification.py).

The bottom layer of everything that measures: objectives use them for the trainer's validation metrics and rewards,
evaluate/ for base-vs-tuned comparisons. They import nothing of tunesmith's.
"""

from tunesmith.metrics.text import TEXT_METRICS
from tunesmith.metrics.tools import LENGTHS, TOOL_METRICS

# Generation metrics by name, as eval.metrics lists them: (prediction, reference) -> score, or None where one does
# not apply to the row.
METRICS = {**TEXT_METRICS, **TOOL_METRICS}

__all__ = ["LENGTHS", "METRICS"]
