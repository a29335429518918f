"""Ctrl-C during training saves a checkpoint; --resume continues from it to the planned step count."""

import json
import os
import signal
import subprocess
import sys
import time

import yaml


def tunesmith(*args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tunesmith", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def logged_steps(run):
    path = run / "metrics.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [r["step"] for r in rows if "loss" in r]


def test_ctrl_c_checkpoints_and_resume_finishes(tiny_config, tmp_path):
    tiny_config.training.max_steps = 400
    tiny_config.training.logging_steps = 1
    tiny_config.training.save_steps = 10_000  # the only checkpoint is the one Ctrl-C asks for
    tiny_config.eval.compare_with_base = False
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_config.model_dump(mode="json")))
    run = tmp_path / "runs" / "tiny"

    process = tunesmith("train", str(path))
    deadline = time.time() + 120
    while len(logged_steps(run)) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted", output
    stopped_at = manifest["step"]
    assert 3 <= stopped_at < 400
    assert (run / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()
    assert not (run / "adapter").exists()
    assert "tunesmith train --resume" in output

    resumed = tunesmith("train", "--resume", str(run))
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    steps = logged_steps(run)
    assert steps[-1] == 400
    assert steps == sorted(steps) and len(steps) == len(set(steps)) >= 399  # continued, not restarted
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 400 and (run / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished"
