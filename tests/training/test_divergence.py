"""The divergence guard in every run: an absurd learning rate stops the run with a clear error, no weights from
after the loss went bad are saved, and the last good checkpoint is named and loadable."""

import json
import math
from pathlib import Path

import pytest
import torch
from rich.console import Console
from safetensors.torch import load_file

from tunesmith.training import train
from tunesmith.training.callbacks import DivergenceGuard, TrainingDiverged


def test_absurd_learning_rate_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config):
    tiny_config.method.name = "full"
    tiny_config.training.learning_rate = 3.0  # Adam at lr 3 on every weight: the loss explodes within a few steps
    tiny_config.training.lr_scheduler = "constant_with_warmup"
    tiny_config.training.warmup_ratio = 0.25  # a few healthy steps first, so a good checkpoint exists
    tiny_config.training.logging_steps = 1
    tiny_config.training.save_steps = 2
    tiny_config.training.keep_best = False  # best-checkpoint saving would move saves to the evaluation steps
    tiny_config.training.threads = 1
    tiny_config.eval.compare_with_base = False
    with pytest.raises(TrainingDiverged, match=r"training diverged at step \d+: loss .* stayed above 4x") as err:
        train(tiny_config, Console(quiet=True))
    run = Path(tiny_config.output.dir) / "tiny"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "diverged" and manifest["step"] < tiny_config.training.max_steps
    good = Path(manifest["last_good_checkpoint"])
    assert f"last good checkpoint: {good}" in err.value.message and "learning_rate" in err.value.hint

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in rows if "loss" in r}
    good_step = int(good.name.split("-")[-1])
    assert losses[good_step + 1] <= losses[1]  # the weights it holds gave a loss no worse than the start
    saved = [int(p.name.split("-")[-1]) for p in (run / "checkpoints").glob("checkpoint-*")]
    assert max(saved) < manifest["step"]  # nothing saved at or after the step that diverged
    weights = load_file(good / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not any((run / name).exists() for name in ("model", "adapter", "summary.json"))


@pytest.mark.parametrize("losses, stops_at", [
    ([8.0, 6.0, 5.0, 40.0, 50.0], 4),      # stays above 4 x the first loss: stops at the second high log
    ([8.0, 6.0, float("nan")], 2),         # NaN and inf stop at once
    ([8.0, 6.0, float("inf")], 2),
    ([8.0, 6.0, 40.0, 5.0, 41.0, 4.0], None),  # single spikes that come back down are hard batches
    ([0.81, 0.3, 0.23, 1.58, 0.4], None),  # a noisy small-batch classification loss (seen in a real test run)
    ([2.0, 0.05, 0.3, 0.9, 1.5], None),    # rising again from a tiny loss, still below the start
])
def test_guard_rule(losses, stops_at):
    guard = DivergenceGuard(factor=4.0)
    flagged = [i for i, loss in enumerate(losses) if guard.problem({"loss": loss})]
    assert (flagged[0] if flagged else None) == stops_at


def test_guard_without_factor_only_stops_on_nan_or_inf():
    guard = DivergenceGuard(factor=None)
    assert guard.problem({"loss": 1.0}) is None and guard.problem({"loss": 1e6}) is None
    assert "validation loss is nan" in guard.problem({"eval_loss": math.nan})
