"""Dropout on the LoRA inputs, cheaper in time and memory, with nn.Dropout's statistics.

PEFT puts an `nn.Dropout` in front of each of the seven adapters of a decoder layer. On smollm2-135m at batch 8 on
a CPU that cost, per step, seven float Bernoulli masks (drawn, divided, kept) and seven dropped copies of the
inputs kept for backward. Here masks are booleans from one 64-bit random draw per four elements (16-bit uniforms
against a threshold). Each element is dropped independently with probability round(p * 65536) / 65536 (within 8e-6
of p) and the kept ones are scaled by exactly 1 / (1 - that), so the expected output equals the input, as with
`nn.Dropout`. Plain LoRA uses these masks inside its fused path (lora_fused.py), which keeps the mask and the layer
input instead of a dropped copy; DoRA, which reads the dropout module itself, gets `MaskDropout`.
"""

from __future__ import annotations

import torch
from torch import nn

LEVELS = 1 << 16


def keep_mask(shape: torch.Size, drop_levels: int, device) -> torch.Tensor:
    """Boolean mask, True with probability 1 - drop_levels / 65536, independently per element."""
    count = shape.numel()
    # random_(-2**63, None) fills all 64 bits uniformly (torch's full-range path), so each int16 piece is uniform.
    draws = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    pieces = draws.view(torch.int16)[:count]
    # A uniform int16 u is >= drop_levels - 32768 with probability (65536 - drop_levels) / 65536.
    return (pieces >= drop_levels - LEVELS // 2).view(shape)


def dropped(x, keep, scale):
    # where + in-place scale measured faster than multiplying by the boolean (a type-promoting multiply)
    return torch.where(keep, x, 0.0).mul_(scale)


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return dropped(x, keep, scale)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return dropped(grad, keep, ctx.scale), None, None


def levels(p: float) -> tuple[int, float]:
    drop_levels = round(p * LEVELS)
    return drop_levels, LEVELS / (LEVELS - drop_levels)


class MaskDropout(nn.Module):
    """Drop-in for nn.Dropout(p) in training; identity in eval."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.drop_levels, self.scale = levels(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_levels == 0:
            return x
        return _MaskedScale.apply(x, keep_mask(x.shape, self.drop_levels, x.device), self.scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_mask_dropout(model) -> int:
    """Swap the nn.Dropout in front of each LoRA adapter for MaskDropout; returns how many were swapped.

    Plain LoRA adapters whose base layer shares their dtype get lora_fused.py instead, which applies the same mask in its
    fused path; this covers DoRA and the rest."""
    swapped = 0
    for module in model.modules():
        adapters = getattr(module, "lora_dropout", None)
        if not isinstance(adapters, nn.ModuleDict):
            continue
        for name, dropout in adapters.items():
            if type(dropout) is nn.Dropout and dropout.p > 0:
                adapters[name] = MaskDropout(dropout.p)
                swapped += 1
    return swapped
