"""The accuracy matrix of a task sequence and the numbers read from it.

R[i][j] is task j's test metric after stage i (stage i trained task i); b[j] is the untouched base model's. With
T tasks, in the metric's better direction (a lower perplexity counts as a gain):
- backward transfer  BWT = mean over j < T-1 of R[T-1][j] - R[j][j]: negative is forgetting;
- forward transfer   FWT = mean over j > 0 of R[j-1][j] - b[j]: what earlier stages did for a task not yet trained;
- forgetting of task j = the best it ever scored after its own stage, minus where it ends;
- final average = mean over j of R[T-1][j].
"""

from __future__ import annotations

from tunesmith.evaluate.across import change


def _sign(cell: dict) -> float:
    return 1.0 if cell.get("higher_is_better", True) is not False else -1.0


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(matrix: list[list[dict]], base: list[dict], names: list[str]) -> dict:
    """BWT, FWT, final average and each task's forgetting, with the paired interval of its final change."""
    last, count = matrix[-1], len(names)
    value = lambda cell: _sign(cell) * cell["tuned"]  # noqa: E731
    tasks = {}
    for j, name in enumerate(names):
        best = max(value(matrix[i][j]) for i in range(j, count))
        kept = change(matrix[j][j], last[j])
        tasks[name] = {"when_trained": matrix[j][j]["tuned"], "final": last[j]["tuned"], **kept,
                       "forgetting": best - value(last[j])}
    return {
        "metric": last[0]["metric"], "final_average": _mean([c["tuned"] for c in last]),
        "backward_transfer": _mean([value(last[j]) - value(matrix[j][j]) for j in range(count - 1)]),
        "forward_transfer": _mean([value(matrix[j - 1][j]) - _sign(base[j]) * base[j]["base"]
                                   for j in range(1, count)]),
        "tasks": tasks,
    }
