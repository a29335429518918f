"""`tunesmith train CONFIG --auto [--budget 10m]`: find the learning rate within a time budget, then evaluate.

A budgeted sweep over training.learning_rate (log scale, a tenth to ten times the rate the defaults would pick):
the first trials are the default rate and 3x, 1/3x, 10x and 1/10x of it, then the TPE sampler refines; the
sweep's median pruner stops trials that fall behind at a validation step, and every trial also stops when the
budget runs out. Trials train the full schedule (epochs as the defaults decide), ranked on the objective's
validation metric. The best trial is the final run: it already holds the weights trained with the setting found,
so it is evaluated against the base on the test split instead of trained a second time, and the search is written
into it (`auto.json`, the manifest's `auto`, the report). A share of the budget is kept for that evaluation.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tunesmith.config import RunConfig, SearchParameter
from tunesmith.errors import UserError
from tunesmith.evaluate.stage import evaluate_run
from tunesmith.models import resolve_model
from tunesmith.objectives import get_objective
from tunesmith.runs import update_manifest, write_json
from tunesmith.sweep.report import best_trial, write_report
from tunesmith.sweep.run import (
    finished_trials,
    open_study,
    plain_printer,
    require_validation,
    trial_objective,
)
from tunesmith.training.defaults import learning_rate, model_shape

MULTIPLIERS = (1.0, 3.0, 1 / 3, 10.0, 0.1)  # the first trials, times the default rate
MAX_TRIALS = 12
EVAL_SHARE = 0.15  # of the budget, kept for the final base-vs-tuned evaluation
MIN_BUDGET = 30.0  # seconds; below this not even loading a model and its data fits
UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def parse_budget(text: str) -> float:
    """Seconds from "900", "90s", "10m" or "1.5h"."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*", str(text))
    if not match:
        raise UserError(f"--budget {text!r}: expected seconds or a duration like 600, 90s, 10m or 1h")
    seconds = float(match[1]) * UNITS[match[2] or ""]
    if seconds < MIN_BUDGET:
        raise UserError(f"--budget {text}: {seconds:.0f} s cannot hold even one trial (loading the model and the "
                        f"data alone takes longer)", hint=f"give at least {MIN_BUDGET:.0f} s, e.g. --budget 10m")
    return seconds


def starting_rate(config: RunConfig) -> tuple[float, str]:
    """The rate the search is centred on: the config's own, or the one the defaults pick for this model."""
    if config.training.learning_rate is not None:
        return config.training.learning_rate, "the config's training.learning_rate"
    source = resolve_model(config.model.name, log=lambda *_: None)
    shape = model_shape(source.path, config.model.revision, config.model.trust_remote_code)
    return learning_rate(config.method.name, shape)


def search_config(config: RunConfig, rate: float) -> RunConfig:
    search = config.model_copy(deep=True)
    search.sweep.parameters = {"training.learning_rate": SearchParameter(type="log_uniform", low=rate / 10,
                                                                          high=rate * 10)}
    search.sweep.metric = config.training.metric_for_best or get_objective(config.objective.name).best_metric
    search.sweep.direction = None
    search.training.learning_rate = None  # each trial sets its own
    return search


def _check(config: RunConfig) -> None:
    require_validation(config, "--auto ranks learning rates")
    if not (config.data.test or config.data.test_size):
        raise UserError("--auto evaluates the run it picks on a test split, and this config has none",
                        hint="set data.test, or data.test_size above 0")


def _room_for_another(study, deadline: float) -> bool:
    """Another trial fits when the longest finished one would still end before the deadline."""
    longest = max((t.user_attrs.get("seconds", 0) for t in study.trials if t.state.is_finished()), default=0)
    return finished_trials(study) < MAX_TRIALS and time.perf_counter() + longest <= deadline


def _progress(study, started: float, budget: float, metric: str) -> str:
    best = best_trial(study)
    shown = (f"best so far {metric} {best.value:.4f} at learning_rate {best.params['training.learning_rate']:.3g}"
             if best else "no trial finished yet")
    left = budget - (time.perf_counter() - started)
    return f"auto: trial {finished_trials(study) + 1}; {shown}; {max(left, 0):.0f} s of {budget:.0f} s left"


def _trials_table(study) -> list[dict]:
    return [{"trial": t.number, "learning_rate": t.params.get("training.learning_rate"), "state": t.state.name.lower(),
             "value": t.value, "seconds": t.user_attrs.get("seconds"), "steps": t.user_attrs.get("steps"),
             "note": t.user_attrs.get("note")} for t in study.trials]


def _no_trial_finished(study, budget: float) -> UserError:
    first = study.trials[0] if study.trials else None
    detail = f" (the first trial ended at {first.user_attrs['note']})" if first and first.user_attrs.get("note") else ""
    return UserError(f"--budget {budget:.0f} s did not hold one whole trial{detail}",
                     hint="raise --budget, or shorten the run (fewer rows, data.max_length, training.epochs)")


def run_auto(config: RunConfig, console, budget: float) -> Path:
    """The budgeted search, then the best trial evaluated as the final run; returns its directory."""
    _check(config)
    log = plain_printer(console)
    started = time.perf_counter()
    rate, why = starting_rate(config)
    search = search_config(config, rate)
    folder = Path(config.output.dir) / (config.output.name or f"auto-{time.strftime('%Y%m%d-%H%M%S')}")
    log(f"auto: searching training.learning_rate around {rate:.3g} ({why}) within {budget:.0f} s; trials in {folder}")
    study = open_study(search, folder)
    for factor in MULTIPLIERS:
        study.enqueue_trial({"training.learning_rate": rate * factor}, user_attrs={"origin": f"{factor:.3g}x start"})
    deadline = started + budget * (1 - EVAL_SHARE)
    objective = trial_objective(search, folder, console, None, MAX_TRIALS, deadline)
    while _room_for_another(study, deadline):
        log(_progress(study, started, budget, search.sweep.metric))
        study.optimize(objective, n_trials=1)
    write_report(study, search, folder)
    best = best_trial(study)
    if best is None:
        raise _no_trial_finished(study, budget)
    return _finish(folder / best.user_attrs["run"], study, best, console, (budget, started), search.sweep.metric)


def _finish(run: Path, study, best, console, clock: tuple[float, float], metric: str) -> Path:
    budget, started = clock
    record = {"budget_seconds": budget, "search_seconds": round(time.perf_counter() - started, 1), "metric": metric,
              "best": {"trial": best.number, "learning_rate": best.params["training.learning_rate"],
                       "value": best.value}, "trials": _trials_table(study), "sweep": str(run.parent)}
    plain_printer(console)(f"auto: best learning_rate {record['best']['learning_rate']:.3g} (trial {best.number}, "
                           f"validation {best.value:.4f}); evaluating {run} against the base")
    write_json(run / "auto.json", record)  # the search is kept even if the evaluation below fails
    update_manifest(run, auto={k: v for k, v in record.items() if k != "trials"})
    evaluate_run(run, console)
    record["seconds"] = round(time.perf_counter() - started, 1)
    write_json(run / "auto.json", record)
    return run
