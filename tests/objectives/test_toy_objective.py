"""Adding an objective is one file: tests/objectives/toy_objective.py trains, evaluates and serves through the CLI
with no edit anywhere else."""

import importlib
import json
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from tunesmith.objectives import OBJECTIVES


@pytest.fixture
def toy():
    """The toy objective, registered by importing its file, and unregistered afterwards."""
    module = importlib.import_module("toy_objective")
    assert module.NAME in OBJECTIVES
    yield module
    OBJECTIVES.pop(module.NAME, None)
    sys.modules.pop("toy_objective", None)


def toy_config(tiny_config, tmp_path, name: str):
    config = tiny_config.model_dump(mode="json")
    config["objective"]["name"] = name
    config["eval"].update(forgetting=False, bias=False)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, tiny_config.output.dir


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def served_reply(run, prompt: str) -> dict:
    """`tunesmith serve RUN` in its own process (which never imports the toy objective), asked one question."""
    from openai import OpenAI

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tunesmith", "serve", str(run), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(240):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        answer = client.chat.completions.create(model=run.name, max_tokens=8,
                                                messages=[{"role": "user", "content": prompt}])
        return answer.model_dump()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_objective_in_one_file_trains_evaluates_and_serves(toy, cli, tiny_config, tmp_path):
    config, runs = toy_config(tiny_config, tmp_path, toy.NAME)
    code, out, err = cli("train", str(config))
    assert code == 0, err
    run = tmp_path / "runs" / "tiny"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["model"]["objective"] == toy.NAME and manifest["model"]["serving"] == "generate"
    trained = json.loads((run / "eval.json").read_text())
    assert set(trained["metrics"]) == {"first_word"} and trained["examples"] == 6
    assert "test_loss" in trained["test"]  # the trainer's own loss on the test split: test_loss=True
    code, out, err = cli("eval", str(run), "--no-forgetting", "--no-bias")
    assert code == 0, err
    again = json.loads((run / "eval.json").read_text())
    assert again["metrics"]["first_word"]["tuned"] == trained["metrics"]["first_word"]["tuned"]
    answer = served_reply(run, "Tom here - two big bagels for pickup")
    assert answer["model"] == run.name and answer["choices"][0]["message"]["role"] == "assistant"


def test_an_unknown_objective_is_refused_with_the_registered_names(cli, tiny_config, tmp_path):
    config, _ = toy_config(tiny_config, tmp_path, "toy_first_wrd")
    code, _, err = cli("train", str(config))
    assert code == 2 and "unknown objective.name 'toy_first_wrd'" in err
