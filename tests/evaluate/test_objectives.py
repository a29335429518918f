"""Task evaluation for every objective family on tiny models. Each pair is base vs an unchanged copy, so every
difference must be exactly zero, and the absolute numbers are checked against an independent computation."""

import json
import math

import pytest

from tunesmith.config import build_config
from tunesmith.evaluate import evaluate_model
from tunesmith.evaluate.pair import ModelPair, base_loader
from tunesmith.models.saved import run_record
from tunesmith.objectives import get_objective
from tunesmith.quickstart.orders import make_examples
from tunesmith.quickstart.reviews import make_order_preferences, make_reviews


def prepared(tmp_path, model, objective: str, rows: list[dict], **eval_settings):
    from transformers import AutoTokenizer

    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = build_config({"model": {"name": str(model)}, "objective": {"name": objective},
                           "data": {"train": str(path), "validation_size": 0.0, "test_size": 0.25, "max_length": 128},
                           "eval": {"max_new_tokens": 6, "batch_size": 8, "forgetting": False, **eval_settings}})
    tokenizer = AutoTokenizer.from_pretrained(model)
    return config, tokenizer, get_objective(objective).prepare_data(config, tokenizer)


def adapted(model_folder, kind: str = "causal_lm"):
    """The tiny model with a fresh LoRA adapter: identical to its base until trained."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    return get_peft_model(auto.from_pretrained(model_folder), LoraConfig(r=4, target_modules="all-linear"))


def assert_no_difference(evaluation: dict, names: set):
    assert set(evaluation["metrics"]) == names
    for row in evaluation["metrics"].values():
        assert row["base"] == pytest.approx(row["tuned"]) and row["delta"] == pytest.approx(0, abs=1e-9)
        assert max(map(abs, row["delta_ci95"])) < 1e-9


def test_language_modeling_perplexity(tmp_path, tiny_model):
    import torch

    rows = [{"text": m["content"]} for row in make_examples(40, seed=4, hard=False) for m in row["messages"][1:]]
    config, tokenizer, data = prepared(tmp_path, tiny_model, "causal_lm", rows)
    pair = ModelPair(adapted(tiny_model), tokenizer)
    evaluation = evaluate_model(pair, config, get_objective("causal_lm"), data, "test", log=lambda line: None)
    assert_no_difference(evaluation, {"perplexity"})
    row = evaluation["metrics"]["perplexity"]
    assert row["higher_is_better"] is False and row["scale"] == "value"
    blocks = data.tokenized["test"]
    with torch.no_grad():  # transformers' own mean loss, block by block, weighted by predicted tokens
        losses = [(float(pair.tuned(input_ids=torch.tensor([b["input_ids"]]), labels=torch.tensor([b["input_ids"]]))
                         .loss) * (len(b["input_ids"]) - 1), len(b["input_ids"]) - 1) for b in blocks]
    assert row["tuned"] == pytest.approx(math.exp(sum(x for x, _ in losses) / sum(n for _, n in losses)), rel=1e-4)
    assert evaluation["samples"] and {"prompt", "reference", "base", "tuned"} <= set(evaluation["samples"][0])
    assert evaluation["bias"] is None and "not applicable to language modeling" in evaluation["skipped"]["bias"]


def test_dpo_log_probability_accuracy_margin_and_implicit_reward(tmp_path, tiny_model):
    config, tokenizer, data = prepared(tmp_path, tiny_model, "dpo", make_order_preferences(24, seed=2, hard=False))
    pair = ModelPair(adapted(tiny_model), tokenizer)
    evaluation = evaluate_model(pair, config, get_objective("dpo"), data, "test", log=lambda line: None)
    assert_no_difference(evaluation, {"logprob_accuracy", "logprob_margin"})
    assert evaluation["implicit_reward"] == {"accuracy": 0.0, "margin": 0.0, "beta": 0.1}  # policy == reference
    assert evaluation["examples"] == 6 and evaluation["samples"][0]["base"].startswith("margin ")


def test_reward_model_and_classifier_rebuild_their_starting_head(tmp_path, tiny_model, tiny_bert):
    """A full-weight pair reloads the base with the run's seed: its new head must equal the one training began
    with, or the base's scores would be noise."""
    for folder, objective, rows, names in (
            (tiny_model, "reward_model", make_order_preferences(24, seed=2, hard=False), {"reward_accuracy", "reward_margin"}),
            (tiny_bert, "classification", make_reviews(40, seed=2, hard=False), {"accuracy", "macro_f1"})):
        config, tokenizer, data = prepared(tmp_path, folder, objective, rows)
        task = get_objective(objective)
        saved = run_record(config, "model", "seq_cls", task.serving, task.head_kwargs(data), tokenizer.pad_token_id)
        load = base_loader(saved, "float32", config.training.seed)
        evaluation = evaluate_model(ModelPair(load(), tokenizer, load), config, task, data, "test", lambda line: None)
        assert_no_difference(evaluation, names)
    report = evaluation["classification"]["tuned"]
    assert sum(map(sum, report["confusion_matrix"])) == evaluation["examples"] == 10
    assert report["labels"] == ["negative", "positive"] and evaluation["bias"]["verdict"] in ("pass", "not tested")


def test_seq2seq_generation(tmp_path, tiny_t5):
    config, tokenizer, data = prepared(tmp_path, tiny_t5, "seq2seq", make_examples(16, seed=5, hard=False),
                                       metrics=["token_f1", "exact_match"], bias=False)
    pair = ModelPair(adapted(tiny_t5, "seq2seq"), tokenizer)
    evaluation = evaluate_model(pair, config, get_objective("seq2seq"), data, "test", log=lambda line: None)
    assert_no_difference(evaluation, {"token_f1", "exact_match"})
    assert [s["base"] for s in evaluation["samples"]] == [s["tuned"] for s in evaluation["samples"]]
