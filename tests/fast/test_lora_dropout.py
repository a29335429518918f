"""The LoRA dropout swap keeps nn.Dropout's behaviour: drop rate, scaling, gradient, identity in eval."""

import pytest
import torch
from torch import nn

from tunesmith.fast.lora_dropout import MaskDropout, keep_mask, use_mask_dropout
from tunesmith.fast.lora_fused import FusedLoRA, use_fused_lora


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


def lora_model(tiny_model, dropout: float, init: bool | str = True):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    return get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(
        r=4, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=init))


def test_eval_is_identity_and_lora_models_get_the_fused_path(tiny_model):
    x = torch.randn(3, 4)
    assert MaskDropout(0.5).eval()(x) is x
    model = lora_model(tiny_model, 0.05)
    keys = model.state_dict().keys()
    assert use_fused_lora(model) == 14  # 7 linear layers x 2 decoder layers
    assert use_mask_dropout(model) == 0 and not any(type(m) is nn.Dropout for m in model.modules())
    variants = [v for m in model.modules() for v in getattr(m, "lora_variant", {}).values()]
    assert len(variants) == 14 and all(isinstance(v, FusedLoRA) and v.p == 0.05 for v in variants)
    assert model.state_dict().keys() == keys  # the same adapter file
    assert use_fused_lora(model) == 0


def test_fused_path_matches_peft_lora_exactly_and_merges_the_same(tiny_model):
    reference = lora_model(tiny_model, 0.0, init=False)  # non-zero B, so the adapters change the output
    fused = lora_model(tiny_model, 0.0, init=False)
    fused.load_state_dict(reference.state_dict())
    assert use_fused_lora(fused) == 14
    ids = torch.randint(0, 300, (2, 9))
    outputs = []
    for model in (reference, fused):
        out = model.train()(input_ids=ids, labels=ids)
        out.loss.backward()
        outputs.append((out.logits, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (logits, grads), (fused_logits, fused_grads) = outputs
    assert torch.allclose(logits, fused_logits, atol=1e-5) and grads.keys() == fused_grads.keys() and len(grads) == 28
    assert all(torch.allclose(grads[n], fused_grads[n], atol=1e-5) for n in grads)
    with torch.no_grad():
        merged = fused.merge_and_unload()(input_ids=ids).logits
        assert torch.allclose(reference.eval()(input_ids=ids).logits, merged, atol=1e-4)


def test_fused_dropout_matches_dropout_then_lora(tiny_model):
    reference = lora_model(tiny_model, 0.3, init=False)
    fused = lora_model(tiny_model, 0.3, init=False)
    fused.load_state_dict(reference.state_dict())
    use_fused_lora(fused)
    layer, fused_layer = (m.base_model.model.model.layers[0].self_attn.q_proj for m in (reference, fused))
    variant = fused_layer.lora_variant["default"]
    x = torch.randn(2, 5, layer.in_features, requires_grad=True)
    torch.manual_seed(3)
    y = fused_layer.train()(x)
    (y * torch.arange(float(y.shape[-1]))).sum().backward()
    mine = x.grad.clone(), fused_layer.lora_A["default"].weight.grad.clone()
    torch.manual_seed(3)
    keep = keep_mask(x.shape, variant.drop_levels, "cpu")
    x.grad = None
    a, b = layer.lora_A["default"], layer.lora_B["default"]
    expected = layer.base_layer(x) + b(a(torch.where(keep, x, 0.0) * variant.drop_scale)) * layer.scaling["default"]
    (expected * torch.arange(float(y.shape[-1]))).sum().backward()
    assert torch.allclose(y, expected, atol=1e-5)
    assert torch.allclose(mine[0], x.grad, atol=1e-5) and torch.allclose(mine[1], a.weight.grad, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(fused_layer.eval()(x), layer.eval()(x), atol=1e-5)  # no dropout in eval
