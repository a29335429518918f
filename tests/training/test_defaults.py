"""Training defaults decided per run: rates by method and model shape, epochs by rows, best-checkpoint settings."""

import json
from pathlib import Path

from rich.console import Console

from tunesmith.config import RunConfig
from tunesmith.training import train
from tunesmith.training.defaults import ModelShape, epochs, learning_rate, model_shape, resolve


def test_full_fine_tuning_rate_falls_with_width_and_stays_in_bounds():
    narrow, base, wide = (learning_rate("full", ModelShape("encoder", w))[0] for w in (384, 768, 4096))
    assert narrow > base == 5e-5 > wide >= 1e-5
    assert learning_rate("freeze", ModelShape("encoder", 768))[0] == base
    assert learning_rate("full", ModelShape("decoder", 576))[0] < narrow  # decoders take smaller steps


def test_parameter_efficient_rates_by_method_and_family():
    encoder, decoder = ModelShape("encoder", 384), ModelShape("decoder", 576)
    assert learning_rate("lora", encoder)[0] == 5e-4 and learning_rate("lora", decoder)[0] == 5.3e-4
    assert learning_rate("lora", ModelShape("decoder", 4096))[0] == 2e-4  # the common rate, at its width
    assert learning_rate("lora", ModelShape("decoder", 8192))[0] == 1.4e-4
    assert learning_rate("lora", ModelShape("decoder", 64))[0] == 1e-3  # held inside the bounds
    assert learning_rate("qlora", decoder)[0] == learning_rate("lora", decoder)[0]
    assert learning_rate("head", encoder)[0] > learning_rate("ia3", encoder)[0] > learning_rate("lora", encoder)[0]


def test_epochs_by_rows_and_head_gets_more():
    assert [epochs("lora", n)[0] for n in (500, 5_000, 50_000, 500_000)] == [5, 3, 2, 1]
    assert epochs("head", 500)[0] == 20 and "500 training rows" in epochs("head", 500)[1]


def test_resolve_fills_only_what_the_config_leaves_unset():
    config = RunConfig.model_validate({"training": {"learning_rate": 1e-3}})
    resolved, chosen = resolve(config, "lora", "eval_accuracy", ModelShape("encoder", 384), 800, True)
    assert resolved.training.learning_rate == 1e-3 and "learning_rate" not in chosen
    assert resolved.training.epochs == 5 and resolved.training.metric_for_best == "eval_accuracy"
    assert resolved.training.keep_best is True and resolved.training.early_stopping_patience == 5
    assert config.training.epochs is None  # the caller's config is not changed
    _, without_validation = resolve(config, "lora", "eval_loss", ModelShape("decoder", 64), 800, False)
    assert without_validation["keep_best"]["value"] is False and "early_stopping_patience" not in without_validation


def test_model_shape_reads_the_config(tiny_model, tiny_bert):
    assert model_shape(str(tiny_model)).family == "decoder"
    assert model_shape(str(tiny_bert)).family == "encoder"


def test_a_run_logs_and_records_the_defaults_it_decided(tiny_config):
    tiny_config.training.learning_rate = None
    tiny_config.eval.compare_with_base = False
    run = train(tiny_config, Console(quiet=True))
    decided = json.loads((Path(run) / "manifest.json").read_text())["defaults"]
    assert decided["learning_rate"]["value"] == 1e-3 and "lora" in decided["learning_rate"]["why"]  # 64 wide
    assert decided["metric_for_best"]["value"] == "eval_loss"
    assert "learning_rate: 0.001" in (Path(run) / "config.yaml").read_text()
