"""Accelerations of the plain training path. Each file says what it speeds up, by how much and on which benchmark,
and each is switched off by a config field (the plain path it replaces stays the reference its tests compare with):

  padding_free.py  fast.padding_free  sft on decoders: a batch joined into one row, attention kept per example
                   fast.shared_prefix the prefix all of a batch's examples share (system prompt, tools) computed once
  head_loss.py     fast.head_loss     the LM head projected inside the loss, only where a label is
  fused_layers.py  fast.lean_layers   RMSNorm and SwiGLU backward passes that keep fewer activations
  lora_fused.py    fast.fused_lora    LoRA's adapter path as one addmm (a PEFT LoRA variant)
  lora_dropout.py  fast.fused_lora    LoRA dropout as a 1-byte mask recomputed in backward
  head_cache.py    fast.head_cache    method head: the frozen backbone's features computed once

The measured effect of each is in its own docstring and in the README's throughput table
(`benchmarks/train_throughput.py`, which also runs with them off).
"""

from __future__ import annotations


def fuse_adapters(model, fast):
    """LoRA and DoRA layers on the fused path (fast.fused_lora): PEFT's math without its output-sized temporaries,
    and dropout masks of one byte, for every adapter that can take them; PEFT's own layers otherwise."""
    from tunesmith.fast.lora_dropout import use_mask_dropout
    from tunesmith.fast.lora_fused import use_fused_lora

    if fast.fused_lora:
        use_fused_lora(model)
        use_mask_dropout(model)  # the adapters the fused path does not take (DoRA...)
    return model
