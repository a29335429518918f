"""`tunesmith import-openai`: OpenAI fine-tuning jobs (supervised, dpo, reinforcement) become configs that load,
their graders become rewards, and a job that cannot be carried over says why."""

import json

import pytest

from tunesmith.config import load_config
from tunesmith.objectives.graders import bleu, calculate, grader_reward
from tunesmith.objectives.reinforce import resolve_reward

CHAT_ROWS = [{"messages": [{"role": "user", "content": f"capital of country {i}?"},
                           {"role": "assistant", "content": f"city {i}"}]} for i in range(6)]
PREFERENCE_ROWS = [{"input": {"messages": [{"role": "user", "content": f"say hi {i}"}]},
                    "preferred_output": [{"role": "assistant", "content": f"hello {i}"}],
                    "non_preferred_output": [{"role": "assistant", "content": "go away"}]} for i in range(4)]
RFT_ROWS = [{"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)} for i in range(4)]


@pytest.fixture
def job_folder(tmp_path, tiny_model):
    files = tmp_path / "files"
    files.mkdir()
    for name, rows in (("file-train", CHAT_ROWS), ("file-pref", PREFERENCE_ROWS), ("file-rft", RFT_ROWS)):
        (files / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def write(job: dict):
        path = tmp_path / "job.json"
        path.write_text(json.dumps(job))
        return path

    return files, write


def test_a_supervised_job_maps_its_files_and_hyperparameters(cli, job_folder, tiny_model):
    files, write = job_folder
    job = write({"object": "fine_tuning.job", "model": "gpt-4o-mini-2024-07-18", "training_file": "file-train",
                 "validation_file": "file-train", "seed": 7, "suffix": "capitals",
                 "method": {"type": "supervised", "supervised": {"hyperparameters": {
                     "n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 2}}}})
    code, out, _ = cli("import-openai", str(job), "--files", str(files), "--model", str(tiny_model))
    assert code == 0, out
    config = load_config(job.with_name("job.tunesmith.yaml"))
    assert config.objective.name == "sft" and config.model.name == str(tiny_model)
    assert config.data.train == str(files / "file-train.jsonl") == config.data.validation
    assert (config.training.epochs, config.training.batch_size, config.training.seed) == (2.0, 4, 7)
    assert config.training.learning_rate == pytest.approx(2 * 1e-3)  # 2 x the default LoRA rate of a 64-wide decoder
    assert config.output.name == "capitals"
    header = job.with_name("job.tunesmith.yaml").read_text()
    assert "learning_rate_multiplier 2" in header and "[approximate]" in header and "gpt-4o-mini" in header


def test_a_dpo_job_keeps_its_beta_and_auto_means_our_defaults(cli, job_folder, tiny_model):
    files, write = job_folder
    job = write({"model": "gpt-4o", "training_file": "file-pref", "method": {"type": "dpo", "dpo": {
        "hyperparameters": {"beta": 0.2, "n_epochs": "auto", "batch_size": "auto",
                            "learning_rate_multiplier": "auto"}}}})
    assert cli("import-openai", str(job), "--files", str(files), "--model", str(tiny_model))[0] == 0
    config = load_config(job.with_name("job.tunesmith.yaml"))
    assert config.objective.name == "dpo" and config.objective.beta == 0.2
    assert config.training.epochs is None and config.training.learning_rate is None


def test_a_reinforcement_job_becomes_grpo_with_its_grader(cli, job_folder, tiny_model):
    files, write = job_folder
    grader = {"type": "string_check", "name": "answer", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}
    job = write({"model": "o4-mini", "training_file": "file-rft", "method": {"type": "reinforcement",
                 "reinforcement": {"grader": grader, "hyperparameters": {"reasoning_effort": "low",
                                                                          "eval_interval": 5}}}})
    code, out, _ = cli("import-openai", str(job), "--files", str(files), "--model", str(tiny_model))
    assert code == 0, out
    config = load_config(job.with_name("job.tunesmith.yaml"))
    assert config.objective.name == "grpo" and config.objective.reward.startswith("grader:")
    assert config.eval.steps == 5 and "reasoning_effort: no equivalent" in out
    rows = [json.loads(line) for line in open(config.data.train)]
    assert rows[3]["messages"][-1] == {"role": "assistant", "content": "6"}
    reward = resolve_reward(config.objective.reward)
    assert reward(None, ["6", "7"], ["6", "6"]) == [1.0, 0.0]


@pytest.mark.parametrize(("grader", "words"), [
    ({"type": "score_model", "name": "judge", "model": "gpt-4o"}, "has no equivalent here: it asks a judge model"),
    ({"type": "text_similarity", "evaluation_metric": "cosine", "input": "", "reference": ""}, "cosine"),
])
def test_graders_without_an_equivalent_exit_2_and_write_nothing(cli, job_folder, tiny_model, grader, words):
    files, write = job_folder
    job = write({"model": "o4-mini", "training_file": "file-rft",
                 "method": {"type": "reinforcement", "reinforcement": {"grader": grader}}})
    code, _, err = cli("import-openai", str(job), "--files", str(files), "--model", str(tiny_model))
    assert code == 2 and words in err and "Traceback" not in err
    assert sorted(p.name for p in job.parent.iterdir()) == ["files", "job.json"]


def test_a_bad_row_or_a_missing_file_names_it(cli, job_folder, tiny_model):
    files, write = job_folder
    (files / "file-bad.jsonl").write_text(json.dumps(CHAT_ROWS[0]) + "\n" + json.dumps({"messages": [
        {"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}) + "\n")
    job = write({"model": "gpt-4o-mini", "training_file": "file-bad"})
    code, _, err = cli("import-openai", str(job), "--files", str(files), "--model", str(tiny_model))
    assert code == 2 and "file-bad.jsonl:2: messages[1].tool_calls[0].function.arguments is not valid JSON" in err
    job = write({"model": "gpt-4o-mini", "training_file": "file-nope"})
    code, _, err = cli("import-openai", str(job), "--files", str(files))
    assert code == 2 and "'file-nope' not found" in err


def test_python_multi_and_similarity_graders_score_like_openais():
    python = {"type": "python", "name": "close", "source": "def grade(sample, item):\n"
              "    return 1.0 if sample['output_text'].strip() == item['answer'] else 0.25\n"}
    similar = {"type": "text_similarity", "name": "sim", "evaluation_metric": "rouge_l",
               "input": "{{sample.output_text}}", "reference": "{{item.answer}}"}
    multi = {"type": "multi", "graders": {"close": python, "sim": similar}, "calculate_output": "0.5 * close + 0.5 * sim"}
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "g.json"
    path.write_text(json.dumps(multi))
    reward = grader_reward(str(path))
    assert reward(None, ["the cat sat", "a dog"], ["the cat sat", "the cat sat"]) == [1.0, pytest.approx(0.125)]
    assert calculate("max(a, b) - 1", {"a": 2.0, "b": 3.0}) == 2.0
    assert bleu("the cat sat on the mat".split(), "the cat sat on the mat".split()) == pytest.approx(1.0)
    assert bleu("dogs run".split(), "the cat sat on the mat".split()) == 0.0
