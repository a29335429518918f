"""Batching tricks must not change the maths: batch 8 x accumulation 1 == batch 2 x accumulation 4 == 1 x 8."""

import json

import pytest
from rich.console import Console

from tunesmith.training import train


def loss_curve(config, name, batch_size, accumulation):
    config = config.model_copy(deep=True)
    config.output.name = name
    config.training.batch_size = batch_size
    config.training.gradient_accumulation_steps = accumulation
    run = train(config, Console(quiet=True))
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def test_gradient_accumulation_gives_the_same_loss_curve(tiny_config):
    config = tiny_config
    config.method.name = "full"
    config.training.max_steps = 4
    config.training.logging_steps = 1
    config.training.learning_rate = 1e-3
    config.training.group_by_length = False  # the same examples must land in the same optimizer step
    config.data.validation_size = 0.0
    config.eval.compare_with_base = False
    reference = loss_curve(config, "b8", 8, 1)
    assert len(reference) == 4 and reference[-1] < reference[0]
    assert loss_curve(config, "b2x4", 2, 4) == pytest.approx(reference, rel=1e-4)
    assert loss_curve(config, "b1x8", 1, 8) == pytest.approx(reference, rel=1e-4)
