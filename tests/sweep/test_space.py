"""The sweep section and the checks that run before any trial trains (fast: no training here)."""

import fcntl
import sys

import pytest
import yaml
from optuna.trial import TrialState
from rich.console import Console

from tunesmith.cli import STATE, main
from tunesmith.config import build_config
from tunesmith.errors import UserError
from tunesmith.sweep import open_study, run_sweep
from tunesmith.sweep.space import trial_config


def with_sweep(config, **sweep):
    raw = config.model_dump(mode="json")
    raw["sweep"] = sweep
    return build_config(raw, "run.yaml")


def test_normal_runs_have_an_empty_sweep_section():
    config = build_config({})
    assert config.sweep.parameters == {} and config.sweep.metric == "eval_loss"


@pytest.mark.parametrize("parameters, message", [
    ({"training.learning_rat": {"type": "log_uniform", "low": 1e-5, "high": 1e-2}},
     "'training.learning_rat' is not a config field; did you mean 'training.learning_rate'?"),
    ({"training": {"type": "uniform", "low": 0, "high": 1}}, "'training' is a section"),
    ({"output.name": {"type": "choice", "choices": ["a"]}}, "cannot search over its own or the output"),
    ({"training.learning_rate": {"type": "log_uniform", "low": 0, "high": 1e-2}}, "log_uniform needs low > 0"),
    ({"method.r": {"type": "int", "low": 16, "high": 4}}, "int needs low < high"),
    ({"method.r": {"type": "choice", "choices": []}}, "needs a non-empty 'choices' list"),
    ({"method.r": {"type": "int", "low": 4, "high": 16, "setp": 2}}, "did you mean 'sweep.parameters.method.r.step'"),
])
def test_bad_search_space_is_a_config_error(tiny_config, parameters, message):
    with pytest.raises(UserError) as err:
        with_sweep(tiny_config, parameters=parameters)
    assert err.value.message.startswith("run.yaml: ") and message in err.value.message


@pytest.mark.parametrize("parameters, message", [
    ({"method.r": {"type": "uniform", "low": 4, "high": 16}}, "sweep.parameters.method.r: the value 8.524"),
    ({"training.lr_scheduler": {"type": "choice", "choices": ["cosine", "cosin"]}}, "the value 'cosin'"),
    ({"training.batch_size": {"type": "int", "low": 0, "high": 8}}, "the value 0 is not allowed"),
])
def test_values_the_field_refuses_are_caught_before_training(tiny_config, tmp_path, parameters, message):
    config = with_sweep(tiny_config, parameters=parameters)
    with pytest.raises(UserError, match=message):
        run_sweep(config, Console(quiet=True), tmp_path / "sweep", trials=2)
    assert not (tmp_path / "sweep").exists()


def test_trial_config_is_a_plain_run_in_the_sweep_folder(lr_sweep_config, tmp_path):
    trial = trial_config(lr_sweep_config, {"training.learning_rate": 0.01}, tmp_path / "s", 7)
    assert trial.training.learning_rate == 0.01 and trial.sweep.parameters == {}
    assert (trial.output.dir, trial.output.name) == (str(tmp_path / "s"), "trial-007")
    assert not trial.eval.compare_with_base and lr_sweep_config.training.learning_rate == 1e-6


def test_first_trial_is_the_configs_own_values_when_inside_the_space(lr_sweep_config, tmp_path):
    study = open_study(lr_sweep_config, tmp_path / "a")
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [{"training.learning_rate": 1e-6}]
    outside = lr_sweep_config.model_copy(deep=True)
    outside.training.learning_rate = 0.5
    assert open_study(outside, tmp_path / "b").trials == []


def test_a_folder_holding_another_configs_sweep_is_refused(lr_sweep_config, tmp_path):
    open_study(lr_sweep_config, tmp_path / "s")
    changed = lr_sweep_config.model_copy(deep=True)
    changed.training.batch_size = 2
    with pytest.raises(UserError, match="holds a sweep of a different config"):
        open_study(changed, tmp_path / "s")
    open_study(lr_sweep_config, tmp_path / "s")  # the same config continues


def test_a_second_sweep_process_on_the_same_folder_is_refused(lr_sweep_config, tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    with open(folder / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(UserError, match="another tunesmith sweep is running"):
            run_sweep(lr_sweep_config, Console(quiet=True), folder, trials=1)


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["tunesmith", *args])
    STATE["debug"] = False
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw.update(sweep={}), "the config has no sweep.parameters"),
    (lambda raw: raw["data"].update(validation_size=0.0), "ranks trials on validation data"),
])
def test_cli_errors_are_one_line(monkeypatch, capsys, lr_sweep_config, tmp_path, change, message):
    raw = lr_sweep_config.model_dump(mode="json")
    change(raw)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    code, err = run_cli(monkeypatch, capsys, "sweep", str(path), "--trials", "2")
    assert code == 2 and err.startswith("error: ") and message in err.splitlines()[0] and "Traceback" not in err
