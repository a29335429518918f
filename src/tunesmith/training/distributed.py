"""Data-parallel training over several processes with accelerate (DDP; FSDP or DeepSpeed from an accelerate config).

`tunesmith train --nproc N` starts `accelerate launch -m tunesmith train ...`, which is also what a user may type;
each process runs the same train(). transformers' Trainer does the distributed part (sampler, DDP wrapper, gradient
all-reduce, token counts across processes); this module only decides which process owns the run directory:
the main process prepares data first (so the cache and a GGUF conversion are written once), creates the run and
tells the others its path, and alone writes logs, the manifest, the artifact and the evaluation.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


def launched_processes() -> int:
    """How many processes a launcher (accelerate, torchrun) started for this run; 1 when none did."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class Processes:
    """This process's place in the run; a single process is its own main."""

    index: int = 0
    count: int = 1
    state: object = field(default=None, repr=False)  # accelerate.PartialState when launched

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def main_first(self):
        """The main process runs the block before the others (they wait at a barrier)."""
        return self.state.main_process_first() if self.state is not None else contextlib.nullcontext()

    def share(self, value):
        """The main process's `value`, on every process."""
        if self.state is None:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value], from_process=0)[0]


def join_processes(device: str) -> Processes:
    """Join the process group a launcher set up (gloo on CPU, NCCL on GPU); a plain Processes() when not launched.
    `device` is the config's model.device ("auto" means the GPU when there is one)."""
    if launched_processes() <= 1:
        return Processes()
    import torch
    from accelerate import PartialState

    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    state = PartialState(cpu=on_cpu)
    return Processes(state.process_index, state.num_processes, state)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_command(train_args: list[str], nproc: int | None, accelerate_config: Path | None) -> list[str]:
    """`accelerate launch` running `tunesmith train <train_args>` in each process.

    Without an accelerate config: N local processes on one machine, no mixed precision from accelerate (tunesmith's
    hardware.py decides the dtype); `--multi_gpu` is accelerate's flag for torchrun-style process spawning and falls
    back to gloo on a CPU. With a config (DDP/FSDP/DeepSpeed, see examples/accelerate/) the config decides, and
    --nproc, if given, overrides its num_processes."""
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config is not None:
        command += ["--config_file", str(accelerate_config)]
        command += ["--num_processes", str(nproc)] if nproc else []
    else:
        command += ["--multi_gpu", "--num_processes", str(nproc), "--num_machines", "1", "--mixed_precision", "no",
                    "--dynamo_backend", "no", "--main_process_port", str(free_port())]
    return command + ["-m", "tunesmith", "train", *train_args]


def launch(train_args: list[str], nproc: int | None, accelerate_config: Path | None) -> int:
    """Run the launcher in the foreground; its exit code (Ctrl-C reaches every process through it)."""
    return subprocess.run(launch_command(train_args, nproc, accelerate_config)).returncode


def shards_weights(trainer) -> bool:
    """True under FSDP or DeepSpeed, where no single process holds the whole trained model in memory."""
    return bool(getattr(trainer, "is_fsdp_enabled", False) or getattr(trainer, "is_deepspeed_enabled", False))


def save_gathered(trainer, run: Path, artifact: str) -> Path:
    """Every process takes part in gathering sharded weights (Trainer.save_model); the main process writes them,
    to a temporary folder first. Not exercised here: it needs GPUs."""
    tmp = run / f".{artifact}.tmp"
    trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        os.replace(tmp, run / artifact)
    return run / artifact
