"""Up-front memory plan: weights, gradients, optimizer state and activations, so a run fails before it starts."""

from __future__ import annotations

from dataclasses import dataclass

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class MemoryPlan:
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.gradients_gb + self.optimizer_gb + self.activations_gb

    def describe(self) -> str:
        return (
            f"~{self.total_gb:.1f} GiB (weights {self.weights_gb:.2f}, gradients {self.gradients_gb:.2f}, "
            f"optimizer {self.optimizer_gb:.2f}, activations {self.activations_gb:.2f})"
        )


def plan_memory(config, total_params: int, trainable_params: int, dtype: str, batch_size: int, seq_len: int) -> MemoryPlan:
    """Estimate peak training memory for a decoder with `config` (a transformers PretrainedConfig)."""
    gib = 2**30
    width = BYTES.get(dtype, 4)
    hidden = getattr(config, "hidden_size", 768)
    layers = getattr(config, "num_hidden_layers", 12)
    inter = getattr(config, "intermediate_size", 4 * hidden)
    vocab = getattr(config, "vocab_size", 32000)
    tokens = batch_size * seq_len
    # Saved activations per layer: attention inputs/outputs (~6 hidden-wide tensors) plus the MLP's 3 wide tensors;
    # the logits and their softmax gradient (2 x vocab wide, fp32) usually dominate for small models.
    per_layer = tokens * (6 * hidden + 3 * inter) * width
    logits = tokens * vocab * 4 * 2
    return MemoryPlan(
        weights_gb=total_params * width / gib,
        gradients_gb=trainable_params * 4 / gib,
        optimizer_gb=trainable_params * 4 * 2 / gib,  # AdamW: two fp32 moments
        activations_gb=(layers * per_layer + logits) / gib,
    )
