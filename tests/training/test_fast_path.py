"""The padding-free path must compute what the padded path computes: same per-example outputs, same loss, same curve."""

import json

import pytest
import torch
from rich.console import Console

from tunesmith.training import train


def loss_curve(config, name, fast=(), **training):
    config = config.model_copy(deep=True)
    config.output.name = name
    for field, value in training.items():
        setattr(config.training, field, value)
    for field in fast:  # accelerations switched off
        setattr(config.fast, field, False)
    run = train(config, Console(quiet=True))
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


@pytest.fixture
def curve_config(tiny_config):
    config = tiny_config
    config.training.max_steps = 4
    config.training.logging_steps = 1
    config.training.learning_rate = 1e-3
    config.training.group_by_length = False  # the same examples in the same step on both paths
    config.data.validation_size = 0.0
    config.eval.compare_with_base = False
    return config


@pytest.mark.parametrize("method", ["full", "lora"])
def test_padding_free_gives_the_padded_loss_curve(curve_config, method):
    curve_config.method.name = method  # tiny_config's LoRA has dropout 0: both paths see identical maths
    padded = loss_curve(curve_config, "padded", fast=["padding_free"], batch_size=8)
    assert len(padded) == 4 and padded[-1] < padded[0]
    assert loss_curve(curve_config, "flat", batch_size=8) == pytest.approx(padded, rel=1e-4)


@pytest.mark.parametrize("switch", ["head_loss", "lean_layers", "fused_lora"])
def test_each_acceleration_switched_off_trains_the_same_curve(curve_config, switch):
    """fast.<switch>: false falls back to the library's own path, with the same maths."""
    fast = loss_curve(curve_config, "fast", batch_size=8)
    assert loss_curve(curve_config, f"no-{switch}", fast=[switch], batch_size=8) == pytest.approx(fast, rel=1e-4)


def test_padding_free_keeps_gradient_accumulation_equivalent(curve_config):
    curve_config.method.name = "full"
    reference = loss_curve(curve_config, "b8", batch_size=8)
    assert loss_curve(curve_config, "b2x4", batch_size=2, gradient_accumulation_steps=4) == pytest.approx(
        reference, rel=1e-4)


def tiny_llama(tiny_model):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()


def test_each_example_attends_only_to_itself(tiny_model):
    from tunesmith.fast.padding_free import PaddingFreeCollator, use_varlen_attention

    model = tiny_llama(tiny_model)
    first, second = list(range(5, 25)), list(range(40, 53))
    alone = [model(input_ids=torch.tensor([ids])).logits[0] for ids in (first, second)]
    assert use_varlen_attention(model)
    batch = PaddingFreeCollator()([{"input_ids": ids, "labels": ids} for ids in (first, second)])
    batch.pop("labels"), batch.pop("logits_to_keep")
    joined = model(**batch).logits[0]
    assert torch.allclose(joined[:20], alone[0], atol=1e-5) and torch.allclose(joined[20:], alone[1], atol=1e-5)
    # without boundaries (generation, padded evaluation) it is plain SDPA with the usual mask
    assert torch.allclose(model(input_ids=torch.tensor([first])).logits[0], alone[0], atol=1e-6)


def test_label_loss_scores_only_labelled_positions_like_the_model_loss(tiny_model):
    from tunesmith.fast.padding_free import (
        PaddingFreeCollator,
        label_loss,
        use_varlen_attention,
    )

    model = tiny_llama(tiny_model)
    examples = [{"input_ids": list(range(3, 15)), "labels": [-100] * 6 + list(range(9, 15))},
                {"input_ids": list(range(20, 28)), "labels": [-100] * 3 + list(range(23, 28))}]
    padded = torch.full((2, 12), -100)
    padded[0], padded[1, :8] = torch.tensor(examples[0]["labels"]), torch.tensor(examples[1]["labels"])
    ids = torch.zeros(2, 12, dtype=torch.long)
    ids[0], ids[1, :8] = torch.tensor(examples[0]["input_ids"]), torch.tensor(examples[1]["input_ids"])
    mask = (torch.arange(12) < torch.tensor([[12], [8]])).long()
    expected = model(input_ids=ids, attention_mask=mask, labels=padded).loss
    use_varlen_attention(model)
    batch = PaddingFreeCollator()(examples)
    labels = batch.pop("labels")
    outputs = model(**batch)
    assert outputs.logits.shape == (11, model.config.vocab_size)  # 6 + 5 positions predict a labelled token
    assert label_loss(outputs, labels).item() == pytest.approx(expected.item(), rel=1e-5)
    assert label_loss(outputs, labels, num_items_in_batch=22).item() == pytest.approx(expected.item() / 2, rel=1e-5)


def shared_prefix_examples():
    prefix = list(range(3, 23))  # 20 tokens all three begin with, no label among them
    rests = [list(range(30, 39)), list(range(50, 56)), list(range(60, 74))]
    return [{"input_ids": prefix + rest, "labels": [-100] * 22 + rest[2:]} for rest in rests]


def test_shared_prefix_is_found_only_where_it_is_safe():
    from tunesmith.fast.padding_free import shared_prefix_length

    examples = shared_prefix_examples()
    assert shared_prefix_length(examples) == 20
    examples[1]["labels"][18] = 7  # a label inside the prefix: stop before the token that predicts it
    assert shared_prefix_length(examples) == 17
    assert shared_prefix_length(examples[:1]) == 0
    different = shared_prefix_examples()
    different[2]["input_ids"][5] = 99
    assert shared_prefix_length(different) == 0  # 5 common tokens: under MIN_SHARED


@pytest.mark.parametrize("head_in_loss", [False, True])
def test_shared_prefix_gives_the_flattened_loss_and_gradients(tiny_model, head_in_loss):
    from peft import LoraConfig, get_peft_model

    from tunesmith.fast.head_loss import chunked_head_loss
    from tunesmith.fast.padding_free import (
        PaddingFreeCollator,
        label_loss,
        language_model,
        use_varlen_attention,
    )

    torch.manual_seed(0)
    model = get_peft_model(tiny_llama(tiny_model), LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    assert use_varlen_attention(model)
    loss_of = chunked_head_loss(language_model(model)) if head_in_loss else label_loss
    results = []
    for share in (False, True):
        batch = PaddingFreeCollator(head_in_loss, share_prefix=share)(shared_prefix_examples())
        assert batch["input_ids"].shape[1] == (20 + 9 + 6 + 14 if share else 3 * 20 + 29)
        labels = batch.pop("labels")
        model.zero_grad()
        loss = loss_of(model(**batch), labels)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        results.append((loss.item(), grads))
    (flat, flat_grads), (shared, shared_grads) = results
    assert shared == pytest.approx(flat, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(flat_grads, shared_grads))


def test_virtual_token_methods_keep_padded_batches(tiny_model):
    from peft import PromptTuningConfig, get_peft_model

    from tunesmith.fast.padding_free import use_varlen_attention

    model = get_peft_model(tiny_llama(tiny_model), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert not use_varlen_attention(model)
