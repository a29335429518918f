"""A learning-rate sweep on the tiny model: it beats a bad default, prunes a bad trial early, writes its report."""

import csv
import json

import optuna
from optuna.trial import TrialState
from rich.console import Console

from tunesmith.config import build_config, read_yaml
from tunesmith.sweep import open_study, run_sweep

STEP_CAP = 9


def test_sweep_beats_a_bad_default_and_prunes_a_bad_trial(lr_sweep_config, tmp_path):
    folder = tmp_path / "sweeps" / "lr"
    study = open_study(lr_sweep_config, folder)  # queues trial 0: the config's own (bad) learning rate
    queued = {"origin": "queued by the test"}
    study.enqueue_trial({"training.learning_rate": 2e-2}, user_attrs=queued)  # completes: a good trial to trail
    study.enqueue_trial({"training.learning_rate": 2e-6}, user_attrs=queued)  # as bad as the default: pruned
    run_sweep(lr_sweep_config, Console(quiet=True), folder, trials=4, max_steps_per_trial=STEP_CAP)

    study = optuna.load_study(study_name="tunesmith", storage=f"sqlite:///{folder / 'study.db'}")
    trials = study.trials
    assert len(trials) == 4 and "origin" not in trials[3].user_attrs  # the sampler chose this one
    default = trials[0]
    assert default.params["training.learning_rate"] == 1e-6 and default.state == TrialState.COMPLETE
    best = study.best_trial
    assert best.params["training.learning_rate"] > 1e-4
    assert best.value < default.value - 1.0  # validation loss clearly below the bad default's

    bad = trials[2]
    assert bad.state == TrialState.PRUNED, bad.user_attrs
    assert bad.user_attrs["steps"] < STEP_CAP
    assert json.loads((folder / "trial-002" / "manifest.json").read_text())["status"] == "pruned"
    assert not (folder / "trial-002" / "adapter").exists()  # a pruned trial saves no weights
    for trial in trials:
        assert trial.user_attrs["model_freed"], trial.number
        if trial.state == TrialState.COMPLETE:
            assert trial.user_attrs["steps"] == STEP_CAP
            assert (folder / trial.user_attrs["run"] / "adapter").is_dir()

    rows = list(csv.DictReader((folder / "trials.csv").open()))
    assert [r["state"] for r in rows[:3]] == ["complete", "complete", "pruned"]
    best_raw = read_yaml(folder / "best.yaml")
    best_config = build_config(best_raw)
    assert best_config.training.learning_rate == best.params["training.learning_rate"]
    assert best_config.sweep.parameters == {} and best_config.output.name is None
    assert best_config.training.max_steps == 100  # the full budget, not the trial cap
    for name in ("history.png", "importance.png"):
        assert (folder / name).read_bytes().startswith(b"\x89PNG")
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and f"trial {best.number}" in page

    run_sweep(lr_sweep_config, Console(quiet=True), folder, trials=4)  # already holds 4: nothing more to run
    assert len(optuna.load_study(study_name="tunesmith", storage=f"sqlite:///{folder / 'study.db'}").trials) == 4


def test_timeout_starts_no_trial_after_it_passes(lr_sweep_config, tmp_path):
    folder = tmp_path / "sweeps" / "lr"
    run_sweep(lr_sweep_config, Console(quiet=True), folder, trials=5, timeout=0.001, max_steps_per_trial=3)
    study = optuna.load_study(study_name="tunesmith", storage=f"sqlite:///{folder / 'study.db'}")
    assert len(study.trials) == 1 and study.trials[0].user_attrs["steps"] == 3  # the one started runs to its end
