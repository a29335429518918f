"""Data-parallel training: 2 CPU processes (gloo) give the loss curve of 1 process with the same global batch;
the shipped accelerate configs (DDP, FSDP, DeepSpeed ZeRO-2/3) are accepted by accelerate's launcher."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tunesmith.training.distributed import launch_command

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE_CONFIGS = sorted((ROOT / "examples" / "accelerate").glob("*.yaml"))


def run_cli(args, tmp_path):
    env = {**os.environ, "TUNESMITH_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "tunesmith", "train", *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_two_processes_match_one_with_the_same_global_batch(tiny_model, orders_files, tmp_path):
    train_file, _ = orders_files
    config = {"model": {"name": str(tiny_model)},
              "data": {"train": str(train_file), "validation_size": 0.0, "max_length": 128},
              "method": {"name": "full"},
              # file order: process 0 takes examples 0, 2, 4, 6 and process 1 takes 1, 3, 5, 7 of each global batch
              "training": {"max_steps": 3, "learning_rate": 1e-3, "logging_steps": 1, "warmup_ratio": 0.0,
                           "lr_scheduler": "constant", "shuffle": False},
              "eval": {"compare_with_base": False, "forgetting": False, "bias": False},
              "output": {"dir": str(tmp_path / "runs")}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    run_cli([str(tmp_path / "run.yaml"), "--nproc", "2", "--set", "training.batch_size=4", "--set",
             "output.name=two"], tmp_path)
    one = tmp_path / "runs" / "one"
    from rich.console import Console

    from tunesmith.config import load_config
    from tunesmith.training import train

    train(load_config(tmp_path / "run.yaml", ["training.batch_size=8", "output.name=one"]), Console(quiet=True))
    two = tmp_path / "runs" / "two"
    assert len(losses(two)) == 3 and losses(two) == pytest.approx(losses(one), rel=1e-4)
    assert (two / "model" / "config.json").is_file()  # the main process saved the artifact
    assert json.loads((two / "manifest.json").read_text())["status"] == "finished"


def test_launch_command_runs_tunesmith_train_in_each_process():
    plain = launch_command(["run.yaml", "--set=training.epochs=1"], 2, None)
    assert plain[1:3] == ["-m", "accelerate.commands.launch"]
    assert plain[-5:] == ["-m", "tunesmith", "train", "run.yaml", "--set=training.epochs=1"]
    assert plain[plain.index("--num_processes") + 1] == "2"
    configured = launch_command(["run.yaml"], None, Path("fsdp.yaml"))
    assert "--config_file" in configured and "--num_processes" not in configured


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=[p.stem for p in ACCELERATE_CONFIGS])
def test_shipped_accelerate_configs_are_accepted_by_accelerate(path):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    config = load_config_from_file(str(path))  # unknown keys and bad enum values raise here
    args = launch_command_parser().parse_args(["--config_file", str(path), "-m", "tunesmith", "train", "run.yaml"])
    args, _, _ = _validate_launch_command(args)
    engine = path.stem.split("_")[0]
    assert {"ddp": args.multi_gpu, "fsdp": args.use_fsdp, "deepspeed": args.use_deepspeed}[engine]
    assert args.num_processes == config.num_processes == 2 and args.mixed_precision == "no"
    if engine == "deepspeed":
        assert args.zero_stage == int(path.stem[-1])


def test_fsdp_config_reaches_accelerate_as_launch_environment():
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    path = ROOT / "examples" / "accelerate" / "fsdp.yaml"
    args = launch_command_parser().parse_args(["--config_file", str(path), "-m", "tunesmith", "train", "run.yaml"])
    args, _, _ = _validate_launch_command(args)
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
