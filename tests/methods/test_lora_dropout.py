"""The LoRA dropout swap keeps nn.Dropout's behaviour: drop rate, scaling, gradient, identity in eval."""

import pytest
import torch
from torch import nn

from tunesmith.methods.lora_dropout import DroppedLinear, MaskDropout, keep_mask, use_mask_dropout


def test_mask_keeps_each_element_with_probability_one_minus_p():
    torch.manual_seed(0)
    keep = keep_mask(torch.Size([2000, 1000]), round(0.1 * 65536), "cpu").float()
    assert keep.mean().item() == pytest.approx(0.9, abs=0.002)
    flat = keep.view(-1)
    for lag in (1, 2, 3, 4, 5):  # the four 16-bit pieces of one draw are independent, and so are the draws
        assert abs(torch.corrcoef(torch.stack([flat[:-lag], flat[lag:]]))[0, 1].item()) < 0.005


def test_training_output_is_input_scaled_or_zero_and_gradient_follows_the_mask():
    torch.manual_seed(0)
    dropout = MaskDropout(0.25).train()
    x = torch.rand(64, 128) + 1.0
    x.requires_grad_(True)
    y = dropout(x)
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.75) and 0.2 < 1 - kept.float().mean().item() < 0.3
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.75)
    assert y.mean().item() == pytest.approx(x.mean().item(), rel=0.03)  # unbiased, as nn.Dropout


def test_eval_is_identity_and_lora_models_get_the_swap(tiny_model):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    x = torch.randn(3, 4)
    assert MaskDropout(0.5).eval()(x) is x
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=4, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"))
    weights = {k: v for k, v in model.state_dict().items() if "lora_A" in k}
    assert use_mask_dropout(model) == 14  # 7 linear layers x 2 decoder layers
    assert not any(type(m) is nn.Dropout for m in model.modules())
    assert sum(isinstance(m, DroppedLinear) for m in model.modules()) == 14
    assert {k: v for k, v in model.state_dict().items() if "lora_A" in k}.keys() == weights.keys()  # same adapter file
    assert use_mask_dropout(model) == 0


def test_dropout_folded_into_lora_a_matches_dropout_then_linear():
    linear = nn.Linear(12, 4, bias=False)
    folded = DroppedLinear.from_linear(linear, 0.3).train()
    x = torch.randn(2, 5, 12, requires_grad=True)
    torch.manual_seed(3)
    y = folded(x)
    (y * torch.arange(4.0)).sum().backward()
    grads = x.grad.clone(), linear.weight.grad.clone()
    x.grad, linear.weight.grad = None, None
    torch.manual_seed(3)
    keep = keep_mask(x.shape, folded.drop_levels, "cpu")
    reference = linear(torch.where(keep, x, 0.0) * folded.scale)
    (reference * torch.arange(4.0)).sum().backward()
    assert torch.allclose(y, reference, atol=1e-6)
    assert torch.allclose(grads[0], x.grad, atol=1e-6) and torch.allclose(grads[1], linear.weight.grad, atol=1e-6)
    assert torch.equal(folded.eval()(x), linear(x))
