"""`tunesmith eval` on an adapter folder or a model that is not a run: same numbers as evaluating the run itself."""

import json

import yaml


def eval_settings(tmp_path, config) -> str:
    """A config file with the run's objective and eval settings, and an output folder of the test's own."""
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({"objective": config.objective.model_dump(), "eval": config.eval.model_dump(),
                                    "data": {"max_length": config.data.max_length},
                                    "output": {"dir": str(tmp_path / "evals")}}))
    return str(path)


def test_an_adapter_folder_scores_as_its_run_did(lora_run, tmp_path, cli):
    run, config = lora_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert not manifest["data_report"].get("leaked_into_test")  # so the run scored the whole test file
    code, out, err = cli("eval", str(run / "adapter"), "--data", config.data.test,
                             "--config", eval_settings(tmp_path, config))
    assert code == 0, err
    folder = next((tmp_path / "evals").iterdir())
    mine, theirs = (json.loads((p / "eval.json").read_text()) for p in (folder, run))
    for name, row in theirs["metrics"].items():
        assert (mine["metrics"][name]["base"], mine["metrics"][name]["tuned"]) == (row["base"], row["tuned"])
    assert mine["forgetting"]["kl_per_token"] > 0
    assert mine["forgetting"]["kl_per_token"] == theirs["forgetting"]["kl_per_token"]
    written = json.loads((folder / "manifest.json").read_text())
    assert written["status"] == "evaluated" and written["evaluated"]["kind"] == "adapter"
    headline = json.loads((folder / "report.json").read_text())["headline"]
    assert headline[0].startswith(f"Evaluated the adapter {run / 'adapter'} against its base")
    assert "Forgetting" in (folder / "report.html").read_text() and "json_exact_match" in out


def test_a_model_compared_with_itself_shows_no_difference(tiny_model, orders_files, tiny_config, tmp_path, cli):
    _, test = orders_files
    code, _, err = cli("eval", str(tiny_model), "--base", str(tiny_model), "--data",
                           str(test), "--config", eval_settings(tmp_path, tiny_config), "--no-bias")
    assert code == 0, err
    evaluation = json.loads((next((tmp_path / "evals").iterdir()) / "eval.json").read_text())
    assert evaluation["examples"] > 0
    assert all(row["delta"] == 0 and row["delta_ci95"] == [0, 0] for row in evaluation["metrics"].values())
    assert evaluation["forgetting"]["kl_per_token"] < 1e-7 and evaluation["forgetting"]["verdict"] == "none"


def test_a_model_without_a_base_or_data_is_refused_with_one_line(tiny_model, lora_run, cli):
    run, _ = lora_run
    cases = [(["eval", str(tiny_model)], "which model did it start from"),
             (["eval", str(tiny_model), "--base", str(tiny_model)], "nothing to evaluate on"),
             (["eval", str(run), "--base", str(tiny_model)], "a run is evaluated with its own config")]
    for args, message in cases:
        code, _, err = cli(*args)
        assert code == 2 and message in err and "Traceback" not in err, err
