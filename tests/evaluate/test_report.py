"""report.json / report.html per run, `tunesmith compare`, and the eval/compare commands."""

import json
import shutil

import pytest

from tunesmith.evaluate import write_report
from tunesmith.evaluate.compare_runs import compare_runs

SECTIONS = ("Did fine-tuning help, and what did it cost?", "Task metrics: base vs fine-tuned", "Samples side by side",
            "Forgetting", "Bias probe", "Training", "Data", "Environment and config")


@pytest.fixture(scope="module")
def two_runs(lora_run, evaluated_run, tmp_path_factory):
    """A plain copy of the shared run and the copy evaluated again on more examples, so they differ."""
    first = tmp_path_factory.mktemp("report") / "first"
    shutil.copytree(lora_run[0], first)
    return first, evaluated_run[0]


def test_training_ends_with_a_report(lora_run):
    run, _ = lora_run
    report = json.loads((run / "report.json").read_text())
    assert report["status"] == "finished" and report["objective"] == "sft" and report["method"] == "lora"
    assert [r["step"] for r in report["training"]["history"] if "eval_loss" in r] == [0, 8, 16]
    assert report["evaluation"]["forgetting"]["verdict"] and report["evaluation"]["bias"]["verdict"]
    assert report["data"]["report"]["tokens"]["train"]["examples"] > 0
    assert report["environment"]["versions"]["torch"] and report["config"]["method"]["r"] == 8
    assert any(line.startswith("valid_json: 0.0% (base)") for line in report["headline"])
    page = (run / "report.html").read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page, title
    # loss/lr/throughput, metrics, forgetting and bias plots, all inline: the page needs no other file
    assert page.count('src="data:image/png;base64,') == 4 and "http" not in page.split("<body>")[1].split("<pre>")[0]


def test_every_user_string_is_escaped(two_runs, tmp_path):
    run = tmp_path / "evil"
    shutil.copytree(two_runs[1], run)
    evaluation = json.loads((run / "eval.json").read_text())
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    evaluation["samples"][0].update(prompt=evil, tuned=evil, reference=evil)
    evaluation["details"]["forgetting"]["examples"][0]["tuned"] = evil
    (run / "eval.json").write_text(json.dumps(evaluation))
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("system_prompt: null",
                                                                                f"system_prompt: '{evil}'"))
    page = write_report(run).read_text()
    assert "<script" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 4  # samples x3, forgetting, config


def test_compare_puts_runs_in_one_table_and_plots(two_runs, tmp_path):
    out = tmp_path / "cmp" / "compare.html"
    result = compare_runs(list(two_runs), out)
    assert [row["run"] for row in result["rows"]] == ["first", "second"]
    assert {"valid_json (tuned)", "forgetting_kl", "bias_flip_rate", "learning_rate"} <= set(result["columns"])
    assert json.loads(out.with_suffix(".json").read_text())["rows"][1]["run"] == "second"
    page = out.read_text()
    assert page.count("<img") == 3 and "<td>second</td>" in page


def test_eval_and_compare_commands(two_runs, monkeypatch, capsys, tmp_path, cli):
    first, second = two_runs
    code, out, err = cli("eval", str(first), "--max-examples", "3", "--no-forgetting",
                           "--no-bias")
    assert code == 0 and "3 test examples: base vs fine-tuned" in out and "valid_json" in out, err
    evaluation = json.loads((first / "eval.json").read_text())
    assert evaluation["examples"] == 3 and evaluation["forgetting"] is None and evaluation["bias"] is None
    assert "not measured: switched off (eval.forgetting)" in (first / "report.html").read_text()
    code, out, _ = cli("compare", str(first), str(second), "--out", str(tmp_path / "c.html"))
    assert code == 0 and (tmp_path / "c.html").is_file() and (tmp_path / "c.json").is_file()
    code, _, err = cli("eval", str(first), "--split", "train")
    assert code == 2 and err.startswith("error: --split train")
    code, _, err = cli("compare", str(first))
    assert code == 2 and "at least two" in err
    code, _, err = cli("eval", str(first), "--cv", "40")
    assert code == 2 and "cannot make 40 folds" in err


def test_the_leak_free_subset_is_shown_beside_the_full_result(two_runs, tmp_path):
    run = tmp_path / "flagged"
    shutil.copytree(two_runs[1], run)
    evaluation = json.loads((run / "eval.json").read_text())
    subset = {name: {**row, "tuned": 0.25} for name, row in evaluation["metrics"].items()}
    evaluation["leak_free"] = {"examples": 9, "flagged": {"duplicate": 1, "leaked": 2}, "metrics": subset}
    (run / "eval.json").write_text(json.dumps(evaluation))
    page = write_report(run).read_text()
    assert "Leak-free subset: 9 rows" in page and "1 duplicate, 2 leaked" in page
    report = json.loads((run / "report.json").read_text())
    assert any("on the leak-free subset (9 rows" in line and "-> 25.0%" in line for line in report["headline"])
