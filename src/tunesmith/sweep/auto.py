"""`tunesmith train CONFIG --auto [--budget 10m]`: find the learning rate within a time budget, then evaluate.

A budgeted sweep over training.learning_rate (log scale, a tenth to ten times the rate the defaults would pick):
the first trials are the default rate and 3x, 1/3x, 10x and 1/10x of it, then the TPE sampler refines; the
sweep's median pruner stops trials that fall behind at a validation step, and every trial also stops when the
budget runs out. Trials train the full schedule (epochs as the defaults decide), ranked on the objective's
validation metric. The best trial is the final run: it already holds the weights trained with the setting found,
so it is evaluated against the base on the test split instead of trained a second time, and the search is written
into it (`auto.json`, the manifest's `auto`, the report). A share of the budget is kept for that evaluation.

When a whole trial does not fit a share of the budget (the first trial, at the start rate, runs with a time limit
of one share and so measures the pace), the trials are shortened instead: each trains the first steps of the full
schedule that fit a share, all the same number, and is ranked where it stops (the prefix a multi-fidelity search
ranks on). The best rate then trains the full schedule as the final run, beyond the budget (the log says how long
it will take at the trials' pace), evaluated like any run. A prefix under MIN_PREFIX of the schedule ranks
nothing, and --auto says so and exits 2.
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
SHORT_TRIALS = 3  # shortened trials the budget is shared between (after the one that measures the pace)
MIN_PREFIX = 0.05  # of the full schedule: the shortest prefix a shortened trial may rank rates on
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
    study.enqueue_trial({"training.learning_rate": rate}, user_attrs={"origin": "1x start"})
    deadline = started + budget * (1 - EVAL_SHARE)
    log(_progress(study, started, budget, search.sweep.metric))
    cap = _measure_pace(study, search, folder, console, (deadline - started) / (SHORT_TRIALS + 1))
    if cap:
        log(f"auto: a whole trial does not fit the budget; each trial trains the first {cap} steps of the schedule")
    for factor in MULTIPLIERS[0 if cap else 1:]:  # shortened: the start rate trains the same prefix first
        study.enqueue_trial({"training.learning_rate": rate * factor}, user_attrs={"origin": f"{factor:.3g}x start"})
    objective = trial_objective(search, folder, console, cap, MAX_TRIALS, deadline)
    while _room_for_another(study, deadline):
        log(_progress(study, started, budget, search.sweep.metric))
        study.optimize(objective, n_trials=1)
    write_report(study, search, folder)
    best = best_trial(study)
    if best is None:
        raise _no_trial_finished(study, budget)
    if cap:
        return _train_final(config, folder, study, best, console, (budget, started), search.sweep.metric)
    return _finish(folder / best.user_attrs["run"], study, best, console, (budget, started), search.sweep.metric)


def _measure_pace(study, search: RunConfig, folder: Path, console, share: float) -> int | None:
    """Run the first trial within one share of the budget: None when it finished (whole trials fit), else the
    steps every shortened trial trains."""
    study.optimize(trial_objective(search, folder, console, None, MAX_TRIALS, time.perf_counter() + share),
                   n_trials=1)
    first = next(t for t in reversed(study.trials) if t.state.is_finished())  # enqueued ones wait behind it
    if "time budget" not in (first.user_attrs.get("note") or ""):
        return None  # it finished, or ended for its own reasons (diverged, pruned): whole trials it is
    steps, total = first.user_attrs.get("steps", 0), first.user_attrs.get("total_steps", 0)
    if not total or steps < max(1, MIN_PREFIX * total):
        raise UserError(f"--budget: a trial reached step {steps} of {total or '?'} in its share ({share:.0f} s); "
                        f"a prefix under {MIN_PREFIX:.0%} of the schedule cannot rank learning rates",
                        hint="raise --budget, or shorten the run (fewer rows, data.max_length, training.epochs)")
    return steps


def _record(study, best, clock: tuple[float, float], metric: str, sweep: Path) -> dict:
    budget, started = clock
    return {"budget_seconds": budget, "search_seconds": round(time.perf_counter() - started, 1), "metric": metric,
            "best": {"trial": best.number, "learning_rate": best.params["training.learning_rate"],
                     "value": best.value, "steps": best.user_attrs.get("steps")},
            "trials": _trials_table(study), "sweep": str(sweep)}


def _train_final(config: RunConfig, folder: Path, study, best, console, clock, metric: str) -> Path:
    """The best rate of shortened trials trained over the whole schedule (beyond the budget) as the final run."""
    from tunesmith.training import train

    record = {**_record(study, best, clock, metric, folder), "shortened_trials": True}
    pace = best.user_attrs["seconds"] / max(best.user_attrs["steps"], 1)
    total = best.user_attrs.get("total_steps") or 0
    plain_printer(console)(f"auto: best learning_rate {record['best']['learning_rate']:.3g} after "
                           f"{best.user_attrs['steps']} steps (trial {best.number}); the final run trains all "
                           f"{total} steps, about {pace * total:.0f} s at the trials' pace")
    final = config.model_copy(deep=True)
    final.training.learning_rate = record["best"]["learning_rate"]
    final.output.dir, final.output.name = str(folder), "final"
    run = train(final, console)
    record["seconds"] = round(time.perf_counter() - clock[1], 1)
    write_json(run / "auto.json", record)
    update_manifest(run, auto={k: v for k, v in record.items() if k != "trials"})
    return run


def _finish(run: Path, study, best, console, clock: tuple[float, float], metric: str) -> Path:
    started = clock[1]
    record = _record(study, best, clock, metric, run.parent)
    plain_printer(console)(f"auto: best learning_rate {record['best']['learning_rate']:.3g} (trial {best.number}, "
                           f"validation {best.value:.4f}); evaluating {run} against the base")
    write_json(run / "auto.json", record)  # the search is kept even if the evaluation below fails
    update_manifest(run, auto={k: v for k, v in record.items() if k != "trials"})
    evaluate_run(run, console)
    record["seconds"] = round(time.perf_counter() - started, 1)
    write_json(run / "auto.json", record)
    return run
