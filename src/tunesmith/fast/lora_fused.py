"""Plain LoRA's adapter path as one autograd function, added onto the base layer's output with one addmm.

PEFT computes `result + lora_B(lora_A(dropout(x))) * scaling`: three output-sized temporaries per adapter (B's
output, its scaled copy, the sum) and, with dropout, a dropped copy of the input kept for backward. On a CPU those
temporaries interleave with the small tensors kept for backward (lora_A's r-wide output), and glibc's heap cannot
give their holes back: on smollm2-135m that held about 0.7x the activations' size again in peak memory. Here the
update is `result.addmm_(dropout(x) @ A.T, B.T, alpha=scaling)`: no output-sized temporary (one where the base
output is a view), and backward keeps the layer input (shared by q, k and v, so once), a boolean dropout mask (see
lora_dropout.py for its statistics) and lora_A's output. The math is PEFT's; a test compares outputs and gradients with PEFT's own path.

It is installed through PEFT's LoRA-variant hook (`module.lora_variant[adapter]`, the extension point DoRA uses),
so merging, unmerging and saving go through PEFT with the plain LoRA delta weight. A saved adapter is an ordinary
PEFT adapter: whoever loads it gets PEFT's own forward, with the same result.
"""

from __future__ import annotations

import torch
from torch import nn

from tunesmith.fast.lora_dropout import dropped, keep_mask, levels


class _FusedLoRA(torch.autograd.Function):
    """result + scaling * (dropout(x) @ A.T) @ B.T, in one addmm (in place where autograd allows it)."""

    @staticmethod
    def forward(ctx, x, result, weight_a, weight_b, scaling, keep, drop_scale):
        flat = x.reshape(-1, x.shape[-1])
        source = flat if keep is None else dropped(flat, keep.view_as(flat), drop_scale)
        low = source @ weight_a.T
        ctx.save_for_backward(x, keep, weight_a, weight_b, low)
        ctx.scaling, ctx.drop_scale = scaling, drop_scale
        if result._base is None:  # the padding-free decoders' case: add in place, no new output-sized tensor
            result.view(-1, result.shape[-1]).addmm_(low, weight_b.T, alpha=scaling)
            ctx.mark_dirty(result)
            return result
        # A view (F.linear on a batch of several rows returns one): autograd rewrites in-place changes of views in
        # ways this backward does not see, so write one new tensor instead (PEFT's path writes three).
        return torch.addmm(result.reshape(-1, result.shape[-1]), low, weight_b.T, alpha=scaling).view_as(result)

    @staticmethod
    def backward(ctx, grad):
        x, keep, weight_a, weight_b, low = ctx.saved_tensors
        flat_grad = grad.reshape(-1, grad.shape[-1])
        grad_low = (flat_grad @ weight_b).mul_(ctx.scaling)
        grad_b = (flat_grad.T @ low).mul_(ctx.scaling) if ctx.needs_input_grad[3] else None
        grad_a = grad_x = None
        if ctx.needs_input_grad[2]:
            flat = x.reshape(-1, x.shape[-1])
            source = flat if keep is None else dropped(flat, keep.view_as(flat), ctx.drop_scale)
            grad_a = grad_low.T @ source
        if ctx.needs_input_grad[0]:
            grad_x = grad_low @ weight_a
            if keep is not None:
                grad_x = dropped(grad_x, keep.view_as(grad_x), ctx.drop_scale)
            grad_x = grad_x.view_as(x)
        return grad_x, grad, grad_a, grad_b, None, None, None


class FusedLoRA:
    """A PEFT LoRA variant with plain LoRA's math and the fused path above; holds the adapter's dropout rate."""

    def __init__(self, p: float):
        self.p = p
        self.drop_levels, self.drop_scale = levels(p)

    def supports_lora_conversion(self) -> bool:
        return True

    def forward(self, module, active_adapter: str, x: torch.Tensor, result: torch.Tensor, **kwargs) -> torch.Tensor:
        weight_a, weight_b = module.lora_A[active_adapter].weight, module.lora_B[active_adapter].weight
        scaling = module.scaling[active_adapter]
        if not torch.is_grad_enabled() or not (weight_a.requires_grad or weight_b.requires_grad or x.requires_grad):
            flat = x.reshape(-1, x.shape[-1])
            return result.view(-1, result.shape[-1]).addmm_(flat @ weight_a.T, weight_b.T, alpha=scaling) \
                .view_as(result)
        keep = keep_mask(x.shape, self.drop_levels, x.device) if module.training and self.drop_levels else None
        return _FusedLoRA.apply(x, result, weight_a, weight_b, scaling, keep, self.drop_scale)

    @staticmethod
    def merge_safe(module, active_adapter: str, orig_weight: torch.Tensor) -> torch.Tensor:
        return orig_weight + module.get_delta_weight(active_adapter).to(orig_weight.dtype)

    @staticmethod
    def merge_unsafe(module, active_adapter: str, orig_weight: torch.Tensor) -> None:
        orig_weight.data += module.get_delta_weight(active_adapter).to(orig_weight.dtype)

    @staticmethod
    def unmerge(module, active_adapter: str, orig_weight: torch.Tensor) -> torch.Tensor:
        return orig_weight - module.get_delta_weight(active_adapter).to(orig_weight.dtype)


def use_fused_lora(model) -> int:
    """Give every plain LoRA linear layer the fused path (and its dropout); returns how many adapters changed."""
    from peft.tuners.lora import Linear

    changed = 0
    for module in model.modules():
        if not isinstance(module, Linear):
            continue
        for name, dropout in list(module.lora_dropout.items()):
            plain = name not in module.lora_variant and isinstance(dropout, (nn.Dropout, nn.Identity))
            a, b = module.lora_A[name], module.lora_B[name]
            # adding in place needs the base output in the adapter's dtype (not so for fp32 adapters on a bf16 base)
            same_dtype = module.get_base_layer().weight.dtype == a.weight.dtype == b.weight.dtype
            if not plain or not same_dtype or a.bias is not None or b.bias is not None:
                continue
            module.lora_variant[name] = FusedLoRA(dropout.p if isinstance(dropout, nn.Dropout) else 0.0)
            module.lora_dropout[name] = nn.Identity()
            changed += 1
    return changed
