"""The federation's Flower apps on a real local deployment: a SuperLink, two SuperNodes each with its own data file,
and `flwr run` of deploy/flower/ (processes and ports, about a minute: marked slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.federated.test_federate import federation_config, intent_bert  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def test_the_apps_run_on_a_superlink_with_supernodes_holding_their_own_data(intent_bert, tmp_path):  # noqa: F811
    raw = federation_config(intent_bert, tmp_path, clients=2, partition="iid", compare=False)
    rows = (tmp_path / "train.jsonl").read_text().splitlines(keepends=True)
    for k in range(2):
        (tmp_path / f"site{k}.jsonl").write_text("".join(rows[k::2]))
    (tmp_path / "federated.yaml").write_text(yaml.safe_dump(raw))
    app = tmp_path / "app"
    shutil.copytree(Path(__file__).parents[2] / "deploy" / "flower", app)
    home = tmp_path / "flwr-home"
    home.mkdir()
    (home / "config.toml").write_text('[superlink]\ndefault = "here"\n\n[superlink.here]\n'
                                      'address = "127.0.0.1:8000"\ninsecure = true\n')
    env = {**os.environ, "FLWR_HOME": str(home), "FLWR_TELEMETRY_ENABLED": "0", "HF_HUB_OFFLINE": "1",
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    processes = [_start(["flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
                         "--database", str(tmp_path / "link.db")], tmp_path / "superlink.log", env)]
    try:
        time.sleep(4)
        for k in range(2):
            processes.append(_start(["flower-supernode", "--insecure", "--superlink", "127.0.0.1:8000",
                                     "--port", str(9194 + k), "--node-config",
                                     f"partition-id={k} train='{tmp_path / f'site{k}.jsonl'}'"],
                                    tmp_path / f"node{k}.log", env))
        done = subprocess.run([str(BIN / "flwr"), "run", str(app), "here", "--stream", "--run-config",
                               f"config='{tmp_path / 'federated.yaml'}'"], env=env, capture_output=True, text=True,
                              timeout=400)
    finally:
        for process in processes:
            process.terminate()
    run = tmp_path / "out" / "fed"
    assert done.returncode == 0, done.stdout + done.stderr
    assert "round 2/2: 2 of 2 clients trained" in done.stdout, done.stdout
    rounds = json.loads((run / "federation" / "rounds.json").read_text())["rounds"]
    trained = {client: entry["rows"] for client, entry in rounds[-1]["clients"].items()}
    assert sorted(trained) == ["0", "1"] and sum(trained.values()) < 60  # each site's own file, less its validation
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished"
