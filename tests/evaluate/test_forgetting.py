"""The forgetting check: exactly zero for an unchanged model, and more drift after training harder."""

import json
from pathlib import Path

import pytest
from rich.console import Console

from tunesmith.errors import UserError
from tunesmith.evaluate.forgetting import measure_forgetting, read_prompts, verdict
from tunesmith.evaluate.pair import ModelPair, base_loader
from tunesmith.models.saved import run_record


def tiny(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)


def test_shipped_prompts_and_own_prompt_files(tmp_path):
    shipped = read_prompts()
    assert 40 <= len(shipped) <= 60 and len(set(shipped)) == len(shipped)
    own = tmp_path / "prompts.txt"
    own.write_text("# mine\nfirst prompt\n\n  second prompt  \n")
    assert read_prompts(own) == ["first prompt", "second prompt"]
    own.write_text("# only a comment\n")
    with pytest.raises(UserError, match="no prompts"):
        read_prompts(own)


def test_verdict_bands():
    assert [verdict(x)[0] for x in (0.0, 0.009, 0.03, 0.1, 2.0)] == ["none", "none", "small", "moderate", "large"]


def test_unchanged_model_scores_zero_drift(tiny_model):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny(tiny_model)
    prompts = read_prompts()[:8]
    # A fresh LoRA adapter starts at B = 0, so the adapted model is the base exactly (base via disable_adapter).
    adapted = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))
    # A full-weight pair: the base is loaded a second time, from the same folder.
    for pair in (ModelPair(adapted, tokenizer),
                 ModelPair(tiny(tiny_model)[0], tokenizer, lambda: tiny(tiny_model)[0])):
        summary = measure_forgetting(pair, prompts, max_new_tokens=8)["summary"]
        assert summary["kl_per_token"] < 1e-7 and summary["top1_changed"] == 0
        assert summary["perplexity_ratio"] == pytest.approx(1.0, abs=1e-5) and summary["verdict"] == "none"
        assert summary["prompts"] == 8 and summary["tokens"] > 8


def test_base_loader_reproduces_the_starting_model(tiny_model, tiny_config):
    import torch

    model, tokenizer = tiny(tiny_model)
    saved = run_record(tiny_config, "adapter", "causal_lm", "generate", {}, None)
    loaded = base_loader(saved, "float32", tiny_config.training.seed)()
    batch = tokenizer(["one tea for Mei"], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def forgetting_after_training(config, learning_rate: float, name: str, rank: int = 8, replay: str | None = None) -> dict:
    from tunesmith.training import train

    config = config.model_copy(deep=True)
    prompts = Path(config.output.dir).parent / "prompts.txt"
    prompts.write_text("\n".join(read_prompts()[:16]))  # a third of the shipped set keeps the test quick
    config.eval.general_prompts = str(prompts)
    config.training.learning_rate, config.training.max_steps = learning_rate, 8
    config.method.r, config.method.alpha = rank, 2 * rank  # the same LoRA scale (alpha / r) at every rank
    config.eval.max_examples, config.eval.max_new_tokens, config.eval.bias = 2, 8, False
    config.eval.forgetting_max_new_tokens = 16
    config.output.name = name
    if replay:  # the base's own answers to general instructions (not the probe prompts), one per training row
        config.data.replay.source, config.data.replay.fraction, config.data.replay.max_new_tokens = replay, 1.0, 16
    run = train(config, Console(quiet=True))
    evaluation = json.loads((run / "eval.json").read_text())
    assert json.loads((run / "summary.json").read_text())["forgetting"] == evaluation["forgetting"]["verdict"]
    return evaluation["forgetting"]


def test_drift_grows_with_the_learning_rate_and_shrinks_with_a_smaller_rank_or_replay(tiny_config):
    gentle = forgetting_after_training(tiny_config, 1e-3, "gentle")
    hard = forgetting_after_training(tiny_config, 1e-2, "hard")
    assert 0 < gentle["kl_per_token"] < hard["kl_per_token"]
    assert 1 < gentle["perplexity_ratio"] < hard["perplexity_ratio"]
    assert gentle["top1_changed"] < hard["top1_changed"]
    low_rank = forgetting_after_training(tiny_config, 1e-2, "hard-r2", rank=2)
    assert 0 < low_rank["kl_per_token"] < hard["kl_per_token"]
    replayed = forgetting_after_training(tiny_config, 1e-2, "hard-replay", replay="base")
    assert 0 < replayed["kl_per_token"] < hard["kl_per_token"]
