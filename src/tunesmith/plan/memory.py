"""Up-front memory plan for one training step: weights, gradients, optimizer state, activations and the runtime's
own memory, so a run that cannot fit fails before it starts and `tunesmith plan` can say what would fit.

The activation figures are what autograd keeps for backward, counted tensor by tensor (unique storages passed to
`torch.autograd.graph.saved_tensors_hooks`, parameters left out) in tunesmith's own training step: SFT padding-free
(fast/padding_free.py: per-example SDPA, the LM head only on labelled positions), LoRA dropout folded into
lora_A (fast/lora_dropout.py). Measured on random Llama models of four shapes (GQA and not, tied and untied
embeddings, head_dim != hidden/heads) and on smollm2-135m, for LoRA with and without dropout, full fine-tuning and
freeze, in fp32, and in bf16 on the random models: the formula below equals the measured bytes exactly
(tests/plan/test_memory.py re-measures it). Per token and decoder layer, with h hidden, q = heads x head_dim,
kv = kv_heads x head_dim, i intermediate and w the activation dtype's width (4 in fp32, 2 in bf16):

- each RMSNorm keeps its input as fp32 and 1/rms (4h + 4 bytes; two norms per layer); padding-free SFT's lean
  norm (fast/fused_layers.py) keeps the input in its own dtype instead (wh + 4);
- SDPA (the flash kernel on CPU) keeps q, k, v, its output and an fp32 log-sum-exp per head: w(2q + 2kv) + 4 heads;
  RoPE keeps only cos/sin, once for all layers;
- the MLP keeps the gate (for SiLU), silu(gate) and up (for the product): 3wi; the lean SwiGLU product keeps the
  gate and up only: 2wi;
- layers that train (their weights or adapters) also keep the inputs of their linears: both norm outputs, o_proj's
  and down_proj's inputs, w(2h + q + i); q/k/v and gate/up share one input, so it is kept once. Over a bf16 base,
  PEFT casts each adapter's input to fp32 first, so each adapter keeps its own 4-byte copy instead;
- full training also keeps each norm's normalised input for the norm weight's gradient: 2wh (the lean norm
  recomputes it), and the lean MLP recomputes down_proj's input instead of keeping it (wi less);
- a LoRA adapter keeps its r-wide lora_A output (fp32) and, with dropout folded in, a 1-byte mask of its input.

Per position whose logits are computed, the loss keeps the fp32 log-softmax (4V) and the int64 target, and backward
briefly holds two more fp32 V-wide gradients (8V) while the log-softmax is still alive: that moment is the peak of
the activation memory (profiled on the random models: peak = saved + 8 K V for K such positions). Padding-free SFT
projects in the loss instead (fast/head_loss.py): per labelled position it keeps the gathered hidden row (wh),
an fp32 log-sum-exp and the int64 target, and a chunk's fp32 logits (CHUNK x V, twice while backward forms the
chunk's gradient) are the only vocabulary-wide tensors alive.

Not calibrated: padded batches (TRL's SFTTrainer, causal_lm) came within 5% on the random models; DoRA keeps more
than this (weight-sized copies and two more outputs per adapter: 1.45-1.57x these activations on the random models);
IA3, prompt tuning, qlora's activation checkpointing, encoders and encoder-decoders use the same figures.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
GIB = 2**30
ADAPTER_WIDTH = 4  # PEFT keeps adapter weights in fp32 over a bf16/fp16 base (autocast_adapter_dtype)
# qlora (nf4, double quantization): 4 bits a weight, an 8-bit absmax per 64 weights, an fp32 scale per 256 absmaxes
NF4_WIDTH = 0.5 + 1 / 64 + 4 / (64 * 256)

# What the process holds before the first weight: Python, torch, transformers, PEFT, TRL, datasets and a tokenizer
# (measured RSS 490 MB on the 2-core CPU machine). On a GPU the CUDA context, kernels and cuBLAS workspace take
# device memory instead; 1 GiB is the usual size of that, an assumption not measured here.
FRAMEWORK_GB = {"cpu": 0.5, "mps": 0.5, "cuda": 1.0}
# On a CPU, glibc's heap also keeps the holes that a step's freed temporaries leave between the tensors kept for
# backward (and between steps of different lengths); the process's peak RSS carries them although no tensor lives
# there. As a share of the per-token activations, from the peak RSS of benchmarks/train_throughput.py's tunesmith
# phases on smollm2-135m (1,135 tokens in the largest step) against the plan without the heap: full fine-tuning
# 0.22-0.24 (3,932 and 3,945 MB against 3,714 MB), LoRA 0.52-0.56 (3,329 and 3,376 MB against 2,623 MB). The lean
# norms and MLP (fast/fused_layers.py) keep fewer, larger-lived tensors, so the holes are a larger share of
# what is kept than before them (0.02 and 0.38). PEFT's own LoRA path held 0.72-0.73: its output-sized temporaries
# sat between the small kept lora_A outputs. With MALLOC_MMAP_THRESHOLD_=131072 RSS follows the live bytes within 1%,
# but training ran at half the speed there (every large block mapped afresh).
CPU_HEAP_SHARE = {"adapter": 0.54, "full": 0.23}


@dataclass(frozen=True)
class ModelShape:
    """The dimensions the activation formula needs, read from a transformers config."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int  # width of the logits: the vocabulary, or the labels of a classification head

    @classmethod
    def from_config(cls, config, logit_width: int | None = None) -> ModelShape:
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden = config.hidden_size
        heads = config.num_attention_heads
        return cls(
            hidden=hidden,
            intermediate=getattr(config, "intermediate_size", None) or getattr(config, "d_ff", None) or 4 * hidden,
            layers=config.num_hidden_layers,
            heads=heads,
            kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            head_dim=getattr(config, "head_dim", None) or hidden // heads,
            vocab=logit_width or config.vocab_size,
        )


@dataclass(frozen=True)
class Trainable:
    """What a method made trainable: counts and which layers keep what for backward (see `read_trainable`)."""

    total: int
    trainable: int
    full_layers: int  # decoder layers whose own weights train
    adapter_layers: int = 0  # layers trained only through adapters
    passed_layers: int = 0  # frozen layers a gradient still crosses (something below them trains)
    adapter_params: int = 0  # trainable parameters PEFT keeps in fp32
    adapter_inputs: int = 0  # sum of in_features over the adapted linears
    adapter_ranks: int = 0  # sum of r over them: each keeps its lora_A output
    masked_inputs: int = 0  # in_features of adapters with dropout: a 1-byte mask each
    dropped_inputs: int = 0  # in_features of adapters that also keep the dropped copy (dropout not folded)
    embeddings_train: bool = False
    norm_trains: bool = False  # the final norm's weight
    head_trains: bool = False
    checkpointed: bool = False  # activation checkpointing: each layer keeps its input, one layer is recomputed
    nf4_params: int = 0  # base weights stored in 4 bits (qlora)

    @classmethod
    def guess(cls, total: int, trainable: int, layers: int) -> Trainable:
        """Without the model at hand: every parameter trains (full) or adapters on every layer."""
        if trainable >= total:
            return cls(total, trainable, layers, embeddings_train=True, norm_trains=True, head_trains=True)
        return cls(total, trainable, 0, adapter_layers=layers, adapter_params=trainable)


@dataclass(frozen=True)
class Step:
    """The tokens one forward pass holds (batch x seq_len) and the share of them whose logits are computed."""

    batch_size: int
    seq_len: int
    logit_share: float = 1.0  # padding-free SFT projects only the positions whose next token carries loss
    padding_free: bool = False
    sequences: int = 1  # sequences per example: preference pairs run chosen and rejected together
    lean_layers: bool = True  # padding-free only: fast/fused_layers.py's norms and SwiGLU products (fast.lean_layers)
    head_loss: bool = True  # padding-free only: the head projected in the loss (fast.head_loss)

    @property
    def lean(self) -> bool:
        return self.padding_free and self.lean_layers

    @property
    def head_in_loss(self) -> bool:
        return self.padding_free and self.head_loss

    @property
    def tokens(self) -> int:
        return self.batch_size * self.sequences * self.seq_len

    @property
    def logit_positions(self) -> int:
        return math.ceil(self.tokens * self.logit_share)


@dataclass(frozen=True)
class MemoryPlan:
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    overhead_gb: float = 0.0  # the runtime: framework, plus on a CPU the heap's retained holes (heap_gb)
    heap_gb: float = 0.0
    token_bytes: float = 0.0  # activations kept per token
    logit_bytes: float = 0.0  # per position whose logits are computed, including backward's peak
    tokens: int = 0
    logit_positions: int = 0

    @property
    def total_gb(self) -> float:
        # A plain sum, although backward frees a layer's activations as it writes that layer's gradients: on the CPU
        # benchmark the heap kept about what that overlap would have saved (full fine-tuning: peak RSS within 1%).
        return self.weights_gb + self.gradients_gb + self.optimizer_gb + self.activations_gb + self.overhead_gb

    def describe(self) -> str:
        return (
            f"~{self.total_gb:.1f} GiB (weights {self.weights_gb:.2f}, gradients {self.gradients_gb:.2f}, "
            f"optimizer {self.optimizer_gb:.2f}, activations {self.activations_gb:.2f}, "
            f"runtime {self.overhead_gb:.2f})"
        )


def _norm_bytes(h: int, width: int, lean: bool) -> int:
    return (width if lean else 4) * h + 4


def _layer_bytes(shape: ModelShape, width: int, kind: str, shared_inputs: bool, lean: bool) -> int:
    """Bytes one decoder layer keeps per token (see the module docstring); kind is full, adapter or passed; lean:
    fast/fused_layers.py's norms and SwiGLU product."""
    h, i = shape.hidden, shape.intermediate
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    norms = 2 * _norm_bytes(h, width, lean)
    attention = width * (2 * q + 2 * kv) + 4 * shape.heads
    mlp = (2 if lean else 3) * width * i
    kept = norms + attention + mlp
    if kind == "passed":
        return kept
    # An fp32 adapter on a bf16/fp16 base casts its input first and keeps its own copy (counted in _adapter_bytes).
    # The lean MLP recomputes down_proj's input where down_proj is a plain trained Linear.
    inputs = width * (2 * h + q + (0 if lean and kind == "full" else i)) if kind == "full" or shared_inputs else 0
    return kept + inputs + (2 * width * h if kind == "full" and not lean else 0)


def _adapter_bytes(t: Trainable, width: int) -> int:
    copies = ADAPTER_WIDTH * t.adapter_inputs if width != ADAPTER_WIDTH else 0
    return ADAPTER_WIDTH * (t.adapter_ranks + t.dropped_inputs) + t.masked_inputs + copies


def token_bytes(shape: ModelShape, t: Trainable, width: int, padding_free: bool, lean: bool | None = None) -> float:
    """Activation bytes kept per token of the batch, all layers, outside the logits; `lean`: the lean norms and
    SwiGLU products (by default wherever the batch is padding-free)."""
    h = shape.hidden
    kinds = {"full": t.full_layers, "adapter": t.adapter_layers, "passed": t.passed_layers}
    lean = padding_free if lean is None else lean
    layers = {kind: _layer_bytes(shape, width, kind, width == ADAPTER_WIDTH, lean) for kind in kinds}
    mask = 1 if padding_free else 0  # the boolean that picks the labelled positions out of the row
    if not sum(kinds.values()):
        return mask  # only the head trains: nothing below it keeps anything
    adapters = _adapter_bytes(t, width)
    if t.checkpointed:  # each layer keeps its input; backward recomputes one layer (and its adapters) at a time
        count = sum(kinds.values())
        stacked = count * width * h + max(layers[k] for k, n in kinds.items() if n) + adapters / count
    else:
        stacked = sum(n * layers[kind] for kind, n in kinds.items()) + adapters
    # The lowest layer's input needs no gradient unless the embeddings train, so its first norm keeps nothing; the
    # lean norm still keeps its input where its own weight trains (the lowest layer trains fully).
    keeps = t.embeddings_train or (lean and t.full_layers > 0 and not t.adapter_layers)
    lowest = 0 if keeps else _norm_bytes(h, width, lean)
    final_norm = _norm_bytes(h, width, lean) + (width * h if t.norm_trains and not lean else 0)
    rope = 2 * shape.head_dim * width
    ids = 8 if t.embeddings_train else 0  # the embedding's backward keeps the int64 ids
    return stacked - lowest + final_norm + rope + ids + mask


def logit_bytes(shape: ModelShape, t: Trainable, width: int, head_in_loss: bool = False) -> int:
    """Bytes per position whose logits are computed: fp32 log-softmax, target, backward's two fp32 gradients; with
    the head in the loss (padding-free SFT), the gathered hidden row, its log-sum-exp and its target."""
    if head_in_loss:
        return width * shape.hidden + 4 + 8
    head_input = width * shape.hidden if t.head_trains else 0
    return 4 * shape.vocab + 8 + 8 * shape.vocab + head_input


def chunk_bytes(shape: ModelShape, positions: int) -> int:
    """The head-in-loss path's vocabulary-wide peak: one chunk's fp32 logits and its gradient."""
    from tunesmith.fast.head_loss import CHUNK

    return 2 * 4 * shape.vocab * min(CHUNK, positions)


def _parameter_bytes(t: Trainable, width: int) -> tuple[float, float]:
    """(weights, trainable) bytes: base weights at the run's width, adapters in fp32, qlora's base in 4 bits."""
    base = t.total - t.adapter_params - t.nf4_params
    weights = base * width + t.nf4_params * NF4_WIDTH + t.adapter_params * ADAPTER_WIDTH
    trainable = t.adapter_params * ADAPTER_WIDTH + (t.trainable - t.adapter_params) * width
    return weights, trainable


def _heap_gb(t: Trainable, token_gb: float) -> float:
    return token_gb * CPU_HEAP_SHARE["adapter" if t.adapter_layers else "full"]


def plan_step(shape: ModelShape, t: Trainable, step: Step, dtype: str, device: str | None = None,
              scale: float = 1.0) -> MemoryPlan:
    """Peak memory of one optimizer step with `step`'s tokens; `dtype` is what hardware.py chose for the weights,
    `device` (cpu, cuda, mps) adds the runtime's own memory. `scale` plans a model of the same family with `scale`
    times the parameters: layers and widths each grow by scale^(1/3), so base weights and their optimizer state
    grow by scale, adapters and per-token activations by scale^(2/3) (depth x width); the vocabulary stays."""
    width = BYTES.get(dtype, 4)
    weights, trainable = _parameter_bytes(t, width)
    adapters = t.adapter_params * ADAPTER_WIDTH
    area = scale ** (2 / 3)
    weights = (weights - adapters) * scale + adapters * area
    trainable = (trainable - adapters) * scale + adapters * area
    per_token = token_bytes(shape, t, width, step.padding_free, step.lean) * area
    per_logit = logit_bytes(shape, t, width, head_in_loss=step.head_in_loss)
    # With the head in the loss, the peak comes in the loss's forward: one chunk's logits, and the decoder's output
    # (w per hidden unit and token, kept by nothing) still alive beside them.
    chunk = chunk_bytes(shape, step.logit_positions) + step.tokens * width * shape.hidden if step.head_in_loss else 0
    token_gb = step.tokens * per_token / GIB
    heap = _heap_gb(t, token_gb) if device == "cpu" else 0.0
    return MemoryPlan(
        weights_gb=weights / GIB,
        gradients_gb=trainable / GIB,  # each gradient has its parameter's dtype
        optimizer_gb=2 * trainable / GIB,  # AdamW: two moments shaped and typed like each trainable parameter
        activations_gb=token_gb + (step.logit_positions * per_logit + chunk) / GIB,
        overhead_gb=FRAMEWORK_GB.get(device, 0.0) + heap if device else 0.0,
        heap_gb=heap,
        token_bytes=per_token,
        logit_bytes=per_logit,
        tokens=step.tokens,
        logit_positions=step.logit_positions,
    )


def plan_memory(config, total_params: int, trainable_params: int, dtype: str, batch_size: int, seq_len: int,
                trainable: Trainable | None = None, step: Step | None = None, device: str | None = None) -> MemoryPlan:
    """Peak training memory for a model with transformers `config`; pass `trainable` (models.plan.read_trainable)
    and `step` for the exact figures, else full training or adapters on every layer is assumed from the counts."""
    shape = ModelShape.from_config(config)
    trainable = trainable or Trainable.guess(total_params, trainable_params, shape.layers)
    return plan_step(shape, trainable, step or Step(batch_size, seq_len), dtype, device)


def largest(fits, limit: int = 1 << 24) -> int:
    """The largest n in 1..limit with fits(n), for a fits that holds up to some n and fails after it; 0 if none."""
    if not fits(1):
        return 0
    low, high = 1, 2
    while high <= limit and fits(high):
        low, high = high, 2 * high
    high = min(high, limit + 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def largest_scale(fits, low: float = 1e-3, high: float = 1e6) -> float:
    """The largest parameter multiple in [low, high] with fits(scale) (monotone), by bisection in log space."""
    if not fits(low):
        return 0.0
    if fits(high):
        return high
    for _ in range(60):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


@dataclass(frozen=True)
class Fit:
    """What fits in `memory_gb`: the run itself, and the largest batch, sequence and model around it."""

    plan: MemoryPlan
    memory_gb: float
    largest_batch: int  # at the run's sequence length
    longest_seq: int  # at the run's batch size (capped at the model's positions)
    largest_params: int  # same family, at the run's batch and sequence length

    @property
    def fits(self) -> bool:
        return self.plan.total_gb <= self.memory_gb


def what_fits(shape: ModelShape, t: Trainable, step: Step, dtype: str, device: str, memory_gb: float,
              max_seq: int | None = None) -> Fit:
    def within(batch: int = step.batch_size, seq: int = step.seq_len, scale: float = 1.0) -> bool:
        moved = dataclasses.replace(step, batch_size=batch, seq_len=seq)
        return plan_step(shape, t, moved, dtype, device, scale).total_gb <= memory_gb

    return Fit(
        plan=plan_step(shape, t, step, dtype, device),
        memory_gb=memory_gb,
        largest_batch=largest(lambda batch: within(batch=batch)),
        longest_seq=largest(lambda seq: within(seq=seq), limit=max_seq or 1 << 24),
        largest_params=round(t.total * largest_scale(lambda scale: within(scale=scale))),
    )
