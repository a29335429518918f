"""The lean RMSNorm and SwiGLU product: the forward is bit-identical, gradients agree, and the probe refuses layers
whose maths differ."""

import copy

import pytest
import torch
from torch import nn

from tunesmith.config import MethodConfig
from tunesmith.config import FastConfig
from tunesmith.fast import fuse_adapters
from tunesmith.methods import get_method
from tunesmith.fast.fused_layers import fuse_layers, restore


def tiny_llama(dtype=torch.float32):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5)
    model = LlamaForCausalLM(config).to(dtype)
    with torch.no_grad():  # norm weights away from 1, so a wrong weight gradient or scale shows
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.uniform_(0.5, 1.5)
    return model


def step(model, ids):
    logits = model(input_ids=ids).logits
    loss = logits.float().logsumexp(-1).mean()
    loss.backward()
    return logits.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("method", ["full", "lora"])
def test_lean_layers_give_the_eager_outputs_and_gradients(method, dtype):
    config = MethodConfig(name=method, r=4, alpha=8, dropout=0.0, target_modules="all-linear")
    eager = fuse_adapters(get_method(method).apply(tiny_llama(dtype), config, "CAUSAL_LM"), FastConfig()).train()
    with torch.no_grad():  # LoRA's B starts at zero, which would leave every A gradient zero
        for name, parameter in eager.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1)
    lean = copy.deepcopy(eager)
    assert len(fuse_layers(lean)) == 2 * 2 + 1 + 2  # two norms a layer, the final norm, an MLP a layer
    ids = torch.randint(0, 300, (2, 11), generator=torch.Generator().manual_seed(3))
    logits, grads = step(eager, ids)
    lean_logits, lean_grads = step(lean, ids)
    assert torch.equal(lean_logits, logits)
    assert grads.keys() == lean_grads.keys() and grads
    assert any("norm" in name for name in grads) == (method == "full")
    tolerance = dict(rtol=1e-4, atol=1e-6) if dtype == torch.float32 else dict(rtol=0.05, atol=0.02)
    for name, grad in grads.items():
        scale = grad.float().abs().max()
        torch.testing.assert_close(lean_grads[name].float() / scale, grad.float() / scale, **tolerance, msg=name)


def test_lean_layers_keep_less_for_backward():
    model = tiny_llama().train()
    ids = torch.randint(0, 300, (1, 40), generator=torch.Generator().manual_seed(4))

    def kept() -> int:
        parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
        storages = {}

        def pack(tensor):
            if tensor.untyped_storage().data_ptr() not in parameters:
                storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(input_ids=ids).logits.sum().backward()
        return sum(storages.values())

    eager = kept()
    changed = fuse_layers(model)
    lean = kept()
    # per token and layer: the MLP's silu(gate) and down_proj's input (2 x 4 x 64), both norms' normalised inputs
    # (2 x 4 x 32); and the final norm's
    assert eager - lean == 40 * 2 * (2 * 4 * 64 + 2 * 4 * 32) + 40 * 4 * 32
    restore(changed)
    assert kept() == eager


class OffsetRMSNorm(nn.Module):
    """Gemma's shape of norm: scales by (1 + weight)."""

    def __init__(self, width):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(width))
        self.variance_epsilon = 1e-6

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
                * (1.0 + self.weight)).to(x.dtype)


class GatedMLP(nn.Module):
    def __init__(self, width, act):
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(width, 2 * width), nn.Linear(width, 2 * width)
        self.down_proj, self.act_fn = nn.Linear(2 * width, width), act

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class ResidualMLP(GatedMLP):
    def forward(self, x):
        return super().forward(x) + x


def test_the_probe_keeps_layers_whose_maths_differ():
    from transformers.activations import ACT2FN

    model = nn.ModuleList([OffsetRMSNorm(16), GatedMLP(16, nn.GELU()), ResidualMLP(16, ACT2FN["silu"]),
                           GatedMLP(16, ACT2FN["silu"])])
    changed = fuse_layers(model)
    assert changed == [model[3]]  # only the plain SwiGLU MLP
    assert all("forward" not in vars(module) for module in model[:3])


def test_restore_gives_each_layer_its_own_forward_back():
    model = tiny_llama().eval()
    ids = torch.arange(12)[None]
    with torch.no_grad():
        before = model(input_ids=ids).logits
        changed = fuse_layers(model)
        assert changed and fuse_layers(model) == []  # a second call changes nothing
        restore(changed)
        assert all("forward" not in vars(module) for module in model.modules())
        assert torch.equal(model(input_ids=ids).logits, before)


def test_the_swap_survives_train_and_eval_switches_of_a_loaded_model(tmp_path):
    """transformers re-kernelizes a from_pretrained model on each train/eval switch (with the kernels package), which
    would put each norm's own forward back before the Trainer's first step."""
    pytest.importorskip("kernels")
    from transformers import AutoModelForCausalLM

    tiny_llama().save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    norm = model.model.norm
    fuse_layers(model)
    model.train().eval().train()
    assert "forward" in vars(norm)
    hidden = torch.randn(1, 3, 32, requires_grad=True)
    assert type(norm(hidden).grad_fn).__name__ == "_RMSNormBackward"
