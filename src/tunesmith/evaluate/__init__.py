"""Evaluate: did fine-tuning help, and what did it cost? Task metrics base vs fine-tuned with bootstrap intervals,
forgetting on general prompts, a counterfactual bias probe, k-fold cross-validation, and the run report."""

from tunesmith.evaluate.compare import (
           bootstrap_ci,
           compare_with_base,
           metric_row,
           paired_bootstrap,
           score,
)
from tunesmith.evaluate.report import write_report
from tunesmith.evaluate.stage import (
           evaluate_model,
           evaluate_run,
           evaluate_trained,
           summary_fields,
)
from tunesmith.metrics import METRICS

__all__ = ["METRICS", "bootstrap_ci", "compare_with_base", "evaluate_model", "evaluate_run", "evaluate_trained",
           "metric_row", "paired_bootstrap", "score", "summary_fields", "write_report"]
