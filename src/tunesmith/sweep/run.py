"""`tunesmith sweep`: an Optuna study (TPE sampler, median or successive-halving pruner) whose trials are ordinary
runs inside one sweep folder; the study lives in SQLite there, so running the same command again continues it."""

from __future__ import annotations

import fcntl
import gc
import math
import time
import weakref
from contextlib import contextmanager
from pathlib import Path

from tunesmith.config import RunConfig, SweepConfig, dump_config
from tunesmith.errors import UserError
from tunesmith.runs import read_json, update_manifest, write_atomic
from tunesmith.sweep.report import write_report
from tunesmith.sweep.space import (
    baseline_values,
    check_space,
    direction,
    metric_key,
    suggest,
    trial_config,
)
from tunesmith.training import train
from tunesmith.training.callbacks import EndsRun, TrainingDiverged

STUDY_NAME = "tunesmith"


class TrialReporter(EndsRun):
    """Reports the validation metric to the trial at every evaluation, ends the run when the pruner says so, and
    stops it at the per-trial step cap (the schedule stays the full run's, so a capped trial is its prefix)."""

    status = "pruned"

    def __init__(self, trial, metric_key: str, max_steps: int | None, deadline: float | None = None):
        super().__init__()
        self.trial, self.metric_key, self.max_steps = trial, metric_key, max_steps
        self.deadline = deadline  # time.perf_counter() value after which the trial ends (a time budget)
        self.value: float | None = None
        self.steps = self.total_steps = 0
        self.missing_metric: list[str] | None = None
        self.model_ref = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.model_ref = weakref.ref(model) if model is not None else None

    def on_step_end(self, args, state, control, **kwargs):
        self.steps, self.total_steps = state.global_step, state.max_steps
        capped = self.max_steps is not None and state.global_step >= self.max_steps
        if capped or state.global_step >= state.max_steps:
            control.should_evaluate = True  # the trial's value is measured on the weights it ends with
        if capped:
            control.should_training_stop = True
        if self.deadline is not None and time.perf_counter() > self.deadline:
            self.end_run(control, f"step {state.global_step} of {state.max_steps}: the time budget ran out")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not any(key.startswith("eval_") for key in metrics or {}):
            return  # the trainer's own test-split loss after training (objective.test_loss), not a validation
        value = (metrics or {}).get(self.metric_key)
        if value is None:
            self.missing_metric, self.status = sorted(metrics or {}), "failed"
            self.end_run(control, f"validation reported no {self.metric_key}")
            return
        if not math.isfinite(value):
            return  # the divergence guard ends such a run; Optuna cannot rank a NaN
        self.value = value
        if state.global_step == 0:
            return  # the untrained model's score (eval_on_start) is the same for every trial: nothing to rank
        self.trial.report(value, state.global_step)
        if self.trial.should_prune():
            self.end_run(control, f"step {state.global_step}: {self.metric_key} {value:.4g} fell behind earlier trials")


def plain_printer(console):
    """Prints a line as written: no markup, no highlighting, no wrapping (paths stay whole)."""
    return lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True)


def sweep_folder(config: RunConfig, config_path: Path | None) -> Path:
    """The same config file gives the same folder, which is what lets a second run continue the first."""
    stem = config_path.stem if config_path else "config"
    return Path(config.output.dir) / (config.output.name or f"sweep-{stem}")


@contextmanager
def _exclusive(folder: Path):
    """One sweep process per folder: a second one would take the first one's running trial for a killed one."""
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the OS even on SIGKILL
        except BlockingIOError:
            raise UserError(f"another tunesmith sweep is running in {folder}",
                            hint="wait for it, or set output.name to start a separate sweep") from None
        yield


def _pruner(sweep: SweepConfig):
    import optuna

    if sweep.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=sweep.pruner_startup_trials,
                                           n_warmup_steps=sweep.pruner_warmup_steps)
    if sweep.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _fingerprint(config: RunConfig) -> str:
    return dump_config(config.model_copy(update={"output": type(config.output)()}))


def open_study(config: RunConfig, folder: Path):
    """Create the study in folder/study.db, or load it when the folder already holds a sweep of this config."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own lines say what happened to each trial
    folder.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(folder / 'study.db').resolve()}"
    known = [s.study_name for s in optuna.get_all_study_summaries(storage)] if (folder / "study.db").exists() else []
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage) if STUDY_NAME in known else None
    # A fresh seed per session: the same seed again would repeat the random start-up trials already run.
    sampler = optuna.samplers.TPESampler(seed=config.sweep.seed + (len(study.trials) if study else 0))
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, sampler=sampler, pruner=_pruner(config.sweep),
                                direction=direction(config.sweep), load_if_exists=True)
    saved = study.user_attrs.get("config")
    if saved is None:
        study.set_user_attr("config", _fingerprint(config))
        write_atomic(folder / "sweep.yaml", dump_config(config))
        baseline = baseline_values(config)
        if baseline is not None:
            study.enqueue_trial(baseline, user_attrs={"origin": "the config's own values"})
    elif saved != _fingerprint(config):
        raise UserError(f"{folder} holds a sweep of a different config; its trials would not be comparable",
                        hint=f"set output.name to start a new sweep, or use the config in {folder / 'sweep.yaml'}")
    return study


def _retry_cut_off_trials(study, folder: Path, log) -> None:
    """Trials left RUNNING by a killed process (we hold the folder's lock, so nobody runs them) fail and are
    queued again with the same values."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        if (folder / str(trial.user_attrs.get("run", "-")) / "manifest.json").is_file():
            update_manifest(folder / trial.user_attrs["run"], status="failed", error="the sweep stopped during it")
        if len(trial.params) == len(trial.distributions) and trial.params:
            study.enqueue_trial(trial.params, user_attrs={"origin": f"retry of cut-off trial {trial.number}"})
        log(f"trial {trial.number} was cut off when the sweep stopped; its values are queued again")


def finished_trials(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _free_memory() -> None:
    """A pruned or finished trial's model, optimizer and trainer go before the next trial loads its own."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _train_trial(run_config: RunConfig, console, reporter: TrialReporter) -> tuple[str, str | None]:
    """(status of the trial's run, why it ended early); only a diverged run raises from train(), and it is caught
    here so its traceback, which holds the model, is gone before memory is freed."""
    try:
        run = train(run_config, console, callbacks=[reporter])
        outcome = (read_json(run / "manifest.json").get("status", "?"), reporter.reason)
    except TrainingDiverged as exc:
        outcome = ("diverged", exc.message)
    _free_memory()
    return outcome


def trial_objective(config: RunConfig, folder: Path, console, max_steps: int | None, total: int,
                    deadline: float | None = None):
    import optuna

    key = metric_key(config.sweep)

    def objective(trial) -> float:
        values = suggest(trial, config.sweep.parameters)
        run_config = trial_config(config, values, folder, trial.number)
        trial.set_user_attr("run", run_config.output.name)
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        console.print(f"trial {trial.number} ({finished_trials(trial.study) + 1} of {total}): {shown}",
                      highlight=False, markup=False, soft_wrap=True)
        reporter = TrialReporter(trial, key, max_steps, deadline)
        started = time.perf_counter()
        status, reason = _train_trial(run_config, console, reporter)
        trial.set_user_attr("steps", reporter.steps)
        trial.set_user_attr("total_steps", reporter.total_steps)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        trial.set_user_attr("model_freed", reporter.model_ref is None or reporter.model_ref() is None)
        if status == "interrupted":
            trial.study.enqueue_trial(values, user_attrs={"origin": f"retry of interrupted trial {trial.number}"})
            raise KeyboardInterrupt
        if reporter.missing_metric is not None:
            raise UserError(f"sweep.metric: validation reports no '{key}'",
                            hint=f"it reports: {', '.join(reporter.missing_metric)}")
        if reason:
            trial.set_user_attr("note", reason)
            raise optuna.TrialPruned(reason)
        if reporter.value is None:
            raise UserError(f"trial {trial.number} ended without a validation result",
                            hint="check eval.steps and that validation data exists")
        return reporter.value

    return objective


def _check_budget(config: RunConfig, trials: int, timeout: float | None, max_steps: int | None) -> None:
    if trials < 1:
        raise UserError(f"--trials must be at least 1 (got {trials})")
    if timeout is not None and timeout <= 0:
        raise UserError(f"--timeout must be a positive number of seconds (got {timeout})")
    if max_steps is not None and max_steps < 1:
        raise UserError(f"--max-steps-per-trial must be at least 1 (got {max_steps})")
    require_validation(config, "a sweep ranks trials")


def require_validation(config: RunConfig, who: str) -> None:
    if not config.data.validation and config.data.validation_size == 0:
        raise UserError(f"{who} on validation data, and this config has none",
                        hint="set data.validation, or data.validation_size above 0")


def run_sweep(config: RunConfig, console, folder: Path, trials: int, timeout: float | None = None,
              max_steps_per_trial: int | None = None) -> Path:
    """Run trials until the study holds `trials` finished (completed or pruned) ones, or `timeout` seconds pass
    (a trial that has started runs to its end); then write the report. Returns the sweep folder."""

    _check_budget(config, trials, timeout, max_steps_per_trial)
    check_space(config)
    log = plain_printer(console)
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder):
        study = open_study(config, folder)
        _retry_cut_off_trials(study, folder, log)
        remaining = trials - finished_trials(study)
        log(f"sweep {folder}: {finished_trials(study)} of {trials} trials finished, {max(remaining, 0)} to go; "
            f"{direction(config.sweep)} {metric_key(config.sweep)}")

        def after_trial(study, trial) -> None:
            log(_describe(trial, metric_key(config.sweep)))
            write_report(study, config, folder)

        if remaining > 0:
            objective = trial_objective(config, folder, console, max_steps_per_trial, trials)
            try:
                study.optimize(objective, n_trials=remaining, timeout=timeout, callbacks=[after_trial])
            except KeyboardInterrupt:
                log("sweep interrupted; run the same command again to continue it")
        summary = write_report(study, config, folder)
    log(_describe_summary(summary, folder))
    return folder


def _describe(trial, key: str) -> str:
    name = trial.user_attrs.get("run", f"trial-{trial.number:03d}")
    if trial.state.name == "COMPLETE":
        return f"trial {trial.number} ({name}): {key} {trial.value:.4f} after {trial.user_attrs.get('steps')} steps"
    return f"trial {trial.number} ({name}) {trial.state.name.lower()}: {trial.user_attrs.get('note', '')}"


def _describe_summary(summary: dict, folder: Path) -> str:
    if summary["best"] is None:
        return f"no trial completed yet; report: {folder / 'report.html'}"
    best = summary["best"]
    return (f"best: trial {best['number']} {summary['metric']} {best['value']:.4f} with {best['params']}; "
            f"config: {folder / 'best.yaml'}; report: {folder / 'report.html'}")
