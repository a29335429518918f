"""Trainer callbacks: metrics as JSON lines, a rich progress bar with tokens/s and ETA, Ctrl-C → checkpoint,
divergence guard, and the base for callbacks that end a run early with a recorded reason."""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path

from transformers import TrainerCallback

from tunesmith.errors import UserError
from tunesmith.hardware import sample_cpu, threads_for_free_cores


class MetricsLog(TrainerCallback):
    """Appends every logged value (loss, eval_loss, learning rate, tokens/s) to metrics.jsonl."""

    def __init__(self, path: Path):
        self.path = path
        self.last_time = time.perf_counter()
        self.last_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.last_time, self.last_tokens = time.perf_counter(), state.num_input_tokens_seen

    def on_log(self, args, state, control, logs=None, **kwargs):
        row = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **(logs or {})}
        for split in ("eval", "test"):
            if f"{split}_loss" in row and f"{split}_perplexity" not in row:
                row[f"{split}_perplexity"] = round(math.exp(min(row[f"{split}_loss"], 50.0)), 4)
        if "loss" in row:
            now = time.perf_counter()
            seen = state.num_input_tokens_seen
            row["tokens_per_second"] = round((seen - self.last_tokens) / max(now - self.last_time, 1e-9), 2)
            self.last_time, self.last_tokens = now, seen
        with self.path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


class Progress(TrainerCallback):
    """One live line: step, loss, validation loss, tokens/s, ETA."""

    def __init__(self, console):
        self.console = console
        self.bar = None
        self.fields = {"loss": "-", "eval": "-", "tps": "-"}

    def on_train_begin(self, args, state, control, **kwargs):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("training"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  val {task.fields[eval]}  {task.fields[tps]} tok/s  ETA"),
            TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=state.max_steps, completed=state.global_step, **self.fields)
        self.started, self.start_tokens = time.perf_counter(), state.num_input_tokens_seen
        self.start_step = state.global_step  # after --resume, the rate counts only this session's steps

    def on_step_end(self, args, state, control, **kwargs):
        elapsed = time.perf_counter() - self.started
        self.fields["tps"] = f"{(state.num_input_tokens_seen - self.start_tokens) / max(elapsed, 1e-9):.0f}"
        self.bar.update(self.task, completed=state.global_step, **self.fields)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None:  # an evaluation outside trainer.train() (a federation's rounds, a run trained apart)
            return
        logs = logs or {}
        if "loss" in logs and math.isfinite(logs["loss"]):
            self.fields["loss"] = f"{logs['loss']:.4f}"
        if "eval_loss" in logs:
            self.fields["eval"] = f"{logs['eval_loss']:.4f}"
        self.bar.update(self.task, **self.fields)
        if not self.console.is_terminal and ("loss" in logs or "eval_loss" in logs):
            # No live bar in a log file or pipe: one line per logged step instead.
            done = max(state.global_step - self.start_step, 1)
            eta = (time.perf_counter() - self.started) / done * (state.max_steps - state.global_step)
            self.console.print(f"step {state.global_step}/{state.max_steps}  loss {self.fields['loss']}  "
                               f"val {self.fields['eval']}  {self.fields['tps']} tok/s  ETA {eta:.0f} s",
                               highlight=False, markup=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar:
            self.bar.stop()


class StopOnInterrupt(TrainerCallback):
    """First Ctrl-C: finish the current step, save a resumable checkpoint, stop. Second Ctrl-C: abort at once."""

    def __init__(self):
        self.interrupted = False
        self.previous = None

    def _handle(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def on_train_begin(self, args, state, control, **kwargs):
        self.previous = signal.signal(signal.SIGINT, self._handle)

    def on_step_end(self, args, state, control, **kwargs):
        if self.interrupted:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class TrainingDiverged(UserError):
    """The loss became NaN/inf or exploded; the run stopped and kept its checkpoints from before."""


class EndsRun(TrainerCallback):
    """A callback that may end a run before its planned steps; train() records `status` and `reason` in the
    manifest and skips saving the final weights, which are not worth keeping."""

    status = "stopped"

    def __init__(self):
        self.reason: str | None = None

    def end_run(self, control, reason: str) -> None:
        self.reason = reason
        control.should_training_stop = True
        # The trainer logs, then evaluates, then saves within one step: refusing the save here keeps the
        # weights that caused the stop out of checkpoints/.
        control.should_save = False
        control.should_evaluate = False


class DivergenceGuard(EndsRun):
    """Stops on a NaN/inf loss, or a loss above `factor` x the first logged one for two logs in a row: one high
    log is often a hard batch (small classification batches swing 2-3x), while a diverging run stays up.

    `verified_step` is the last optimizer step whose weights gave a logged loss no worse than the first one: a
    checkpoint saved after it holds weights that no healthy loss has vouched for."""

    status = "diverged"

    def __init__(self, factor: float | None):
        super().__init__()
        self.factor = factor
        self.first: float | None = None
        self.strikes = 0
        self.verified_step = 0

    def problem(self, logs: dict) -> str | None:
        if "eval_loss" in logs and not math.isfinite(logs["eval_loss"]):
            return f"validation loss is {logs['eval_loss']}"
        if "loss" not in logs:
            return None
        loss = logs["loss"]
        if not math.isfinite(loss):
            return f"loss is {loss}"
        self.first = loss if self.first is None else self.first
        high = self.factor is not None and self.first > 0 and loss > self.factor * self.first
        self.strikes = self.strikes + 1 if high else 0
        if self.strikes >= 2:
            return f"loss {loss:.4g} stayed above {self.factor:g}x the first logged loss ({self.first:.4g})"
        return None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        problem = self.problem(logs)
        if problem:
            self.end_run(control, f"step {state.global_step}: {problem}")
        elif self.strikes:
            control.should_save = False  # possibly the start of a divergence: keep these weights out of checkpoints
        elif self.first is not None and logs.get("loss", math.inf) <= self.first:
            # the loss logged at step s was computed with the weights left by step s - 1
            self.verified_step = state.global_step - 1


class ThreadsFollowFreeCores(TrainerCallback):
    """On a CPU shared with other work, train with as many threads as there are cores left free.

    Sampled from the run's start (before data and weights load), decided at the first step, then every `every`
    seconds, so a run started on a busy machine speeds up when the machine frees up, and the other way round."""

    def __init__(self, every: float = 15.0):
        self.every = every
        self.last = sample_cpu()
        self.decided = False
        self.changes: list[tuple[int, int]] = []  # (step, threads)

    def on_step_end(self, args, state, control, **kwargs):
        import torch

        now = sample_cpu()
        if self.last is None or now is None or (self.decided and now.at - self.last.at < self.every):
            return
        threads = threads_for_free_cores(self.last, now)
        self.last, self.decided = now, True
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
            self.changes.append((state.global_step, threads))


class AnchorDecay(TrainerCallback):
    """`training.anchor_decay`: L2 toward the starting weights, decoupled from the gradient like AdamW's decay. After
    each optimizer step every trainable weight moves `strength * lr / peak lr` of the way back to its value when
    the callback was made (before training: the parent run's weights or adapter when continuing), so the pull
    follows the schedule and does not depend on the loss's scale."""

    def __init__(self, model, strength: float):
        import torch

        self.strength = strength
        with torch.no_grad():
            self.pairs = [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad]

    def on_optimizer_step(self, args, state, control, lr_scheduler=None, **kwargs):
        import torch

        lr = lr_scheduler.get_last_lr()[0] if lr_scheduler is not None else args.learning_rate
        weight = self.strength * lr / args.learning_rate
        with torch.no_grad():
            for param, start in self.pairs:
                param.lerp_(start.to(param.device), weight)
