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


def _write(config, tmp_path, **training) -> str:
    raw = config.model_dump(mode="json")
    raw["training"].update(training, threads=1)
    raw["eval"].update(compare_with_base=False)
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_auto_keeps_the_best_trial_and_evaluates_it(cli, tiny_config, tmp_path):
    code, out, err = cli("train", _write(tiny_config, tmp_path, max_steps=12), "--auto", "--budget", "60s")
    assert code == 0, err
    [run] = [path.parent for path in (tmp_path / "runs" / "tiny").glob("trial-*/auto.json")]
    assert run.name in out.replace("\n", "")
    record = json.loads((run / "auto.json").read_text())
    done = [t for t in record["trials"] if t["state"] == "complete"]
    assert 2 <= len(record["trials"]) <= MAX_TRIALS and record["trials"][0]["learning_rate"] == pytest.approx(3e-3)
    assert [t["learning_rate"] / 3e-3 for t in record["trials"][:2]] == pytest.approx(list(MULTIPLIERS[:2]))
    assert record["best"]["value"] == min(t["value"] for t in done)  # eval_loss: lower is better
    assert record["seconds"] < 60 * 1.5
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["auto"]["best"] == record["best"]
    assert (run / "adapter").is_dir()
    assert "json_exact_match" in json.loads((run / "summary.json").read_text())["comparison"]  # evaluated on test
    assert "auto: best learning_rate" in out


def test_a_budget_that_holds_no_whole_trial_is_a_clear_error(cli, tiny_config, tmp_path):
    code, _, err = cli("train", _write(tiny_config, tmp_path, max_steps=100_000, save_steps=100_000), "--auto",
                       "--budget", "30s")
    assert code == 2 and "did not hold one whole trial" in err and "Traceback" not in err


def test_auto_needs_validation_data(cli, tiny_config, tmp_path):
    tiny_config.data.validation_size = 0
    code, _, err = cli("train", _write(tiny_config, tmp_path), "--auto")
    assert code == 2 and "validation" in err
