"""Killing a sweep mid-trial and running the same command again continues the study: finished trials are kept,
the cut-off trial's values are tried again, and the study ends with the requested number of trials."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import yaml
from optuna.trial import TrialState

TRIALS = 3


def sweep_command(config_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tunesmith", "sweep", str(config_path), "--trials", str(TRIALS),
                             "--max-steps-per-trial", "6"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def status(run):
    path = run / "manifest.json"
    return json.loads(path.read_text()).get("status") if path.is_file() else None


def test_killed_sweep_continues_without_redoing_finished_trials(lr_sweep_config, tmp_path):
    raw = lr_sweep_config.model_dump(mode="json")
    raw["sweep"]["pruner"] = "none"  # this test is about resuming; pruning has its own test
    raw["training"]["logging_steps"] = 1  # metrics.jsonl appears at the first step: the trial is under way
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    folder = tmp_path / "sweeps" / "lr"

    process = sweep_command(path)
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        if status(folder / "trial-001") == "finished" and (folder / "trial-002" / "metrics.jsonl").is_file():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate(timeout=30)
    assert status(folder / "trial-002") == "running", output  # killed in the middle of the third trial
    finished_files = {p: p.stat().st_mtime_ns for n in (0, 1) for p in (folder / f"trial-00{n}").rglob("*")}

    resumed = sweep_command(path)
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert "2 of 3 trials finished, 1 to go" in output
    assert "trial 2 was cut off" in output

    study = optuna.load_study(study_name="tunesmith", storage=f"sqlite:///{folder / 'study.db'}")
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[3].params == study.trials[2].params  # the cut-off trial's values, tried again
    assert {p: p.stat().st_mtime_ns for n in (0, 1) for p in (folder / f"trial-00{n}").rglob("*")} == finished_files
    assert status(folder / "trial-002") == "failed" and status(folder / "trial-003") == "finished"
    assert sorted(p.name for p in folder.glob("trial-*")) == ["trial-000", "trial-001", "trial-002", "trial-003"]
