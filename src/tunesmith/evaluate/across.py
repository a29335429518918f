"""A model scored on other tasks' test splits: the earlier tasks of a continued run (`train --from`), and every task
of a `tunesmith continual` sequence after each stage (the accuracy matrix, continual/).

A task is a DataConfig: its test split is prepared exactly as the task's own run prepared it (a test file, or the
share split off its training file with its seed), and scored with the task's objective evaluation. The task's
metric is the first one the evaluation reports (accuracy for classification, eval.metrics[0] for generation,
perplexity for language modelling); each test row's score is kept, so a change between two models on the same
rows gets a paired interval.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.rehearsal import own_rows_only
from tunesmith.evaluate.compare import bootstrap_ci
from tunesmith.evaluate.stage import evaluate_task
from tunesmith.metrics import METRICS
from tunesmith.runs import open_run, read_json


def task_config(config, data):
    """The run's config with the task's data settings (and the run's labels: a classifier's head is the run's)."""
    task = config.model_copy(deep=True)
    task.data = own_rows_only(data)
    task.data.labels = config.data.labels if config.data.labels else data.labels
    return task


def row_scores(result: dict, metric: str) -> list[float] | None:
    """Each test row's score for `metric`, from the evaluation's samples (None when it has no per-row samples)."""
    samples = result.get("samples") or []
    if len(samples) != result.get("examples") or metric not in METRICS and metric != "accuracy":
        return None
    if metric == "accuracy":
        return [float(s["tuned"] == s["reference"]) for s in samples]
    return [float(METRICS[metric](s["tuned"], s["reference"])) for s in samples]


def score_task(pair, config, objective, data) -> dict | None:
    """{metric, examples, base, tuned, scale, scores} of the pair on the task's test split; None without one."""
    task = task_config(config, data)
    prepared = objective.prepare_data(task, pair.tokenizer)
    result, _ = evaluate_task(pair, task, objective, prepared, "test")
    if not result or not result.get("metrics"):
        return None
    metric, row = next(iter(result["metrics"].items()))
    return {"metric": metric, "examples": result["examples"], "base": row["base"], "tuned": row["tuned"],
            "scale": row.get("scale", "fraction"), "higher_is_better": row.get("higher_is_better", True),
            "scores": row_scores(result, metric)}


def change(before: dict, after: dict) -> dict:
    """after - before on the same task, with a paired 95% interval when both kept their rows' scores."""
    delta = after["tuned"] - before["tuned"]
    paired = before.get("scores") and after.get("scores") and len(before["scores"]) == len(after["scores"])
    interval = bootstrap_ci([a - b for b, a in zip(before["scores"], after["scores"])]) if paired else None
    return {"delta": delta, "delta_ci95": interval}


def earlier_tasks(pair, config, objective, lineage: list[dict], log) -> dict:
    """A continued run on the test split of every run in its lineage, beside what that run scored itself."""
    scored = {}
    for entry in lineage:
        run = Path(entry["run"])
        if not (run / "config.yaml").is_file():
            log(f"earlier task {entry['name']}: {run} is gone; not scored")
            continue
        earlier_config, _ = open_run(run)
        now = score_task(pair, config, objective, earlier_config.data)
        if now is None:
            continue
        scored[entry["name"]] = row = {**now, **when_trained(run, now["metric"], now)}
        if row["when_trained"] is not None:
            log(f"earlier task {entry['name']}: {now['metric']} {row['when_trained']:.4g} when it was trained -> "
                f"{now['tuned']:.4g} now ({row['delta']:+.4g})")
    return scored


def when_trained(run: Path, metric: str, now: dict) -> dict:
    """What the earlier run scored on its own test split at the end of its training, and the change since."""
    evaluation = read_json(run / "eval.json")
    own = (evaluation.get("metrics") or {}).get(metric)
    if not own:
        return {"when_trained": None, "delta": None, "delta_ci95": None}
    before = {"tuned": own["tuned"], "scores": row_scores(evaluation, metric)}
    return {"when_trained": own["tuned"], **change(before, now)}
