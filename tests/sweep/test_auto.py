"""`tunesmith train --auto`: a budgeted learning-rate search whose best trial is evaluated as the final run."""

import json

import pytest
import yaml

from tunesmith.errors import UserError
from tunesmith.sweep.auto import MAX_TRIALS, MULTIPLIERS, parse_budget, search_config


@pytest.mark.parametrize(("text", "seconds"), [("600", 600), ("90s", 90), ("10m", 600), ("1.5h", 5400)])
def test_budget_reads_seconds_and_durations(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["ten minutes", "10d", "-5m", "10s"])
def test_a_budget_that_is_not_a_duration_or_too_short_is_refused(text):
    with pytest.raises(UserError, match="--budget"):
        parse_budget(text)


def test_the_search_is_centred_on_the_starting_rate_and_ranks_on_the_objective_metric(tiny_config):
    search = search_config(tiny_config, 2e-4)
    space = search.sweep.parameters["training.learning_rate"]
    assert (space.type, space.low, space.high) == ("log_uniform", pytest.approx(2e-5), pytest.approx(2e-3))
    assert search.sweep.metric == "eval_loss" and search.training.learning_rate is None
    assert tiny_config.training.learning_rate == 3e-3  # the user's config is left as it was


def _write(config, tmp_path, compare: bool = False, **training) -> str:
    raw = config.model_dump(mode="json")
    raw["training"].update(training, threads=1)
    raw["eval"].update(compare_with_base=compare, forgetting=False, bias=False)
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_auto_keeps_the_best_trial_and_evaluates_it(cli, tiny_config, tmp_path):
    code, out, err = cli("train", _write(tiny_config, tmp_path, max_steps=12), "--auto", "--budget", "60s")
    assert code == 0, err
    [run] = [path.parent for path in (tmp_path / "runs" / "tiny").glob("trial-*/auto.json")]
    assert run.name in out.replace("\n", "")
    record = json.loads((run / "auto.json").read_text())
    done = [t for t in record["trials"][1:] if t["state"] == "complete"]
    assert 2 <= len(record["trials"]) <= MAX_TRIALS and record["trials"][0]["learning_rate"] == pytest.approx(3e-3)
    assert [t["learning_rate"] / 3e-3 for t in record["trials"][:2]] == pytest.approx(list(MULTIPLIERS[:2]))
    assert record["best"]["value"] == min(t["value"] for t in done)  # eval_loss: lower is better
    assert record["seconds"] < 60 * 1.5
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["auto"]["best"] == record["best"]
    assert (run / "adapter").is_dir()
    assert "json_exact_match" in json.loads((run / "summary.json").read_text())["comparison"]  # evaluated on test
    assert "auto: best learning_rate" in out


def test_a_budget_that_holds_too_short_a_prefix_of_the_schedule_is_a_clear_error(cli, tiny_config, tmp_path):
    code, _, err = cli("train", _write(tiny_config, tmp_path, max_steps=100_000, save_steps=100_000), "--auto",
                       "--budget", "30s")
    assert code == 2 and "cannot rank learning rates" in err and "Traceback" not in err


def test_auto_needs_validation_data(cli, tiny_config, tmp_path):
    tiny_config.data.validation_size = 0
    code, _, err = cli("train", _write(tiny_config, tmp_path), "--auto")
    assert code == 2 and "validation" in err


class _FakeStudy:
    """The first trial as _measure_pace sees it: stopped by its share of the budget at `steps` of `total`."""

    def __init__(self, steps, total, note="step 40 of 400: the time budget ran out"):
        from types import SimpleNamespace

        state = SimpleNamespace(is_finished=lambda: True)
        self.trials = [SimpleNamespace(user_attrs={"steps": steps, "total_steps": total, "note": note}, state=state)]

    def optimize(self, objective, n_trials):
        assert n_trials == 1


@pytest.mark.parametrize(("steps", "note", "cap"), [(40, "step 40 of 400: the time budget ran out", 40),
                                                    (40, None, None), (40, "step 40: eval_loss fell behind", None)])
def test_the_first_trial_measures_the_pace_and_shortens_the_rest_only_when_time_stopped_it(
        steps, note, cap, tiny_config, tmp_path):
    from tunesmith.sweep.auto import _measure_pace

    assert _measure_pace(_FakeStudy(steps, 400, note), tiny_config, tmp_path, None, 10.0) == cap


def test_a_prefix_too_short_to_rank_is_refused(tiny_config, tmp_path):
    from tunesmith.sweep.auto import _measure_pace

    with pytest.raises(UserError, match="reached step 10 of 400 in its share"):
        _measure_pace(_FakeStudy(10, 400), tiny_config, tmp_path, None, 10.0)


def test_shortened_trials_rank_rates_and_the_best_trains_the_whole_schedule(cli, tiny_config, tmp_path,
                                                                            monkeypatch):
    import tunesmith.sweep.auto as auto

    def pace(study, search, folder, console, share):  # as if the first trial had not fit its share
        study.optimize(auto.trial_objective(search, folder, console, 2, auto.MAX_TRIALS), n_trials=1)
        return 4

    monkeypatch.setattr(auto, "_measure_pace", pace)
    code, out, err = cli("train", _write(tiny_config, tmp_path, compare=True, max_steps=12), "--auto", "--budget",
                         "60s")
    assert code == 0, err
    run = tmp_path / "runs" / "tiny" / "final"
    record = json.loads((run / "auto.json").read_text())
    assert record["shortened_trials"] and record["best"]["steps"] == 4
    done = [t for t in record["trials"][1:] if t["state"] == "complete"]
    assert done and all(t["steps"] == 4 for t in done) and done[0]["learning_rate"] == pytest.approx(3e-3)
    rates = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert rates[-1]["step"] == 12  # the final run trained the whole schedule
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished"
    assert "json_exact_match" in json.loads((run / "summary.json").read_text())["comparison"]
    assert "the final run trains all 12 steps" in out.replace("\n", " ")
