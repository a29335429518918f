"""eval.lm_eval_tasks: lm-evaluation-harness scores the base and the fine-tuned model on a task with local data."""

import json

import pytest

from tunesmith.errors import UserError
from tunesmith.evaluate.harness import resolve_tasks

TASK = """task: tunesmith_orders_ll
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: bits_per_byte
    aggregation: bits_per_byte
    higher_is_better: false
"""


def write_task(folder, rows) -> str:
    data = folder / "orders.jsonl"
    data.write_text("".join(json.dumps({"prompt": r["messages"][-2]["content"], "answer": r["messages"][-1]["content"]})
                            + "\n" for r in rows))
    task = folder / "orders_ll.yaml"
    task.write_text(TASK.format(data=data))
    return str(task)


def test_task_entries_name_tasks_or_yaml_files(tmp_path):
    (tmp_path / "a.yaml").write_text("task: alpha\n")
    assert resolve_tasks(["hellaswag", str(tmp_path / "a.yaml")]) == (["hellaswag", "alpha"], [str(tmp_path)])
    (tmp_path / "b.yaml").write_text("dataset_path: json\n")
    with pytest.raises(UserError, match="no `task:` name"):
        resolve_tasks([str(tmp_path)])


def test_base_and_fine_tuned_scored_on_a_local_task(lora_run, tmp_path):
    pytest.importorskip("lm_eval")
    from rich.console import Console

    from tunesmith.evaluate import evaluate_run
    from tunesmith.quickstart.orders import make_examples

    import shutil

    run = tmp_path / "run"  # a copy: evaluating rewrites eval.json, and other tests read the shared run's
    shutil.copytree(lora_run[0], run)
    task = write_task(tmp_path, make_examples(12, seed=99, hard=False))
    evaluation = evaluate_run(run, Console(quiet=True), max_examples=2, forgetting=False, bias=False,
                              lm_eval=[task])
    row = evaluation["lm_eval"]["metrics"]["tunesmith_orders_ll/bits_per_byte"]
    # The adapter was trained on orders like these: their JSON answers became far less surprising than for the base.
    assert 0 < row["tuned"] < 0.8 * row["base"]
    assert json.loads((run / "eval.json").read_text())["lm_eval"]["tasks"] == ["tunesmith_orders_ll"]
    assert "lm-evaluation-harness" in (run / "report.html").read_text()
