"""`tunesmith plan`: the memory a run needs, from its config alone, and what would fit on other devices.

No weights load: the model is built from its config on the meta device and the run's method is applied to it there,
so the parameter counts (total, trainable, adapters) are the real model's. plan/memory.py turns them and the
step's tokens into gigabytes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from tunesmith.errors import UserError
from tunesmith.fast import fuse_adapters
from tunesmith.hardware import choose_dtype, detect
from tunesmith.methods import count_parameters, get_method
from tunesmith.methods.freeze import transformer_blocks
from tunesmith.models.heads import task_head
from tunesmith.models.resolve import (
    MODEL_CLASSES,
    _hub_error,
    check_model_kind,
    load_tokenizer,
    resolve_model,
)
from tunesmith.objectives import get_objective
from tunesmith.objectives.lengths import decide_lengths
from tunesmith.plan.memory import (
    Fit,
    MemoryPlan,
    ModelShape,
    Step,
    Trainable,
    plan_step,
    what_fits,
)
from tunesmith.quiet import quiet_libraries


def _adapter_parameter_ids(model) -> set[int]:
    """Parameters PEFT added (LoRA A/B, DoRA magnitudes, IA3 vectors...), told apart from the base weights."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return set()
    ids: set[int] = set()
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            for name in module.adapter_layer_names:
                part = getattr(module, name, None)
                ids |= {id(p) for p in part.parameters()} if part is not None else set()
    return ids


def _layer_kind(block, adapter_ids: set[int]) -> str:
    trains = [p for p in block.parameters() if p.requires_grad]
    if any(id(p) not in adapter_ids for p in trains):
        return "full"
    return "adapter" if trains else "frozen"


def _lora_inputs(model) -> tuple[int, int, int, int]:
    """(in_features, ranks, masked in_features, dropped-copy in_features) summed over the LoRA-adapted linears."""
    from torch import nn

    from tunesmith.fast.lora_fused import FusedLoRA

    inputs = ranks = masked = dropped = 0
    for module in model.modules():
        lora_a = getattr(module, "lora_A", None)
        if not isinstance(lora_a, nn.ModuleDict):
            continue
        for name, a in lora_a.items():
            dropout = module.lora_dropout[name]
            inputs, ranks = inputs + a.in_features, ranks + a.out_features
            fused = getattr(module, "lora_variant", {}).get(name)
            if isinstance(fused, FusedLoRA):
                masked += a.in_features if fused.drop_levels else 0  # backward recomputes the dropped input
            elif getattr(dropout, "p", 0) > 0:  # MaskDropout (DoRA) or nn.Dropout: mask and dropped copy
                masked, dropped = masked + a.in_features, dropped + a.in_features
    return inputs, ranks, masked, dropped


def _trains(module) -> bool:
    return module is not None and any(p.requires_grad for p in module.parameters())


def read_trainable(model, nf4: bool = False) -> Trainable:
    """What the applied method trains, and so what each layer keeps for backward; `nf4`: qlora's 4-bit base."""
    from torch import nn

    trainable, total = count_parameters(model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    blocks = list(transformer_blocks(base))
    adapter_ids = _adapter_parameter_ids(model)
    kinds = [_layer_kind(block, adapter_ids) for block in blocks]
    embeddings_train = _trains(base.get_input_embeddings())
    # A gradient runs from the loss down to the lowest trainable parameter; frozen layers above it must keep what
    # their backward needs, frozen layers below it keep nothing.
    lowest = 0 if embeddings_train else next((n for n, kind in enumerate(kinds) if kind != "frozen"), len(kinds))
    inputs, ranks, masked, dropped = _lora_inputs(model)
    inner = getattr(base, base.base_model_prefix, base)
    nf4_params = sum(m.weight.numel() for block in blocks for m in block.modules()
                     if type(m) is nn.Linear and not m.weight.requires_grad) if nf4 else 0
    return Trainable(
        total=total, trainable=trainable, full_layers=kinds.count("full"), adapter_layers=kinds.count("adapter"),
        passed_layers=sum(1 for n, kind in enumerate(kinds) if kind == "frozen" and n >= lowest),
        adapter_params=trainable if hasattr(model, "peft_config") else 0,
        adapter_inputs=inputs, adapter_ranks=ranks, masked_inputs=masked, dropped_inputs=dropped,
        embeddings_train=embeddings_train, norm_trains=_trains(getattr(inner, "norm", None)),
        head_trains=_trains(task_head(base)[1]),
        # prepare_model_for_kbit_training turns checkpointing on only for a model really loaded in 4 bits
        checkpointed=nf4 or bool(getattr(base, "is_activation_checkpointing", False)),
        nf4_params=nf4_params,
    )


def logit_width(model) -> int | None:
    """Width of the trained head's output: the vocabulary, or a classification head's labels."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return getattr(task_head(base)[1], "out_features", None)
    except UserError:
        return None


def trains_padding_free(config, model) -> bool:
    """Whether SFT will train this model padding-free: fast/padding_free.use_varlen_attention's conditions,
    checked without switching the model's attention."""
    if not (get_objective(config.objective.name).padding_free and config.fast.padding_free):
        return False
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and peft_config.is_prompt_learning:
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return not getattr(base.config, "is_encoder_decoder", False) and getattr(base, "_supports_attention_backend", False)


def run_step(config, model, seq_len: int, label_share: float) -> Step:
    padding_free = trains_padding_free(config, model)
    objective = get_objective(config.objective.name)
    return Step(config.training.batch_size or objective.batch_size, seq_len, label_share if padding_free else 1.0,
                padding_free, objective.sequences_per_example, config.fast.lean_layers,
                config.fast.head_loss)


def label_share(report: dict) -> float:
    """Share of the training tokens whose next token carries loss (the logits padding-free SFT computes)."""
    train = report.get("train", {})
    return min(1.0, train["loss_tokens"] / train["tokens"]) if train.get("tokens") else 1.0


def plan_loaded_model(config, model, method, data, hardware) -> MemoryPlan:
    """The plan `train()` checks before training, for the model it has just loaded and made trainable."""
    longest = max(r["longest"] for r in data.report.values()) or config.data.max_length
    step = run_step(config, model, longest, label_share(data.report))
    shape = ModelShape.from_config(model.config, logit_width(model))
    return plan_step(shape, read_trainable(model, nf4=method.four_bit_base), step, hardware.dtype, hardware.device)


@dataclass(frozen=True)
class Device:
    name: str  # what --device takes
    label: str
    memory_gb: float
    bf16: bool = True


# Memory as the driver reports it (nvidia-smi MiB / 1024); the dtype follows from bf16 support via hardware.py.
GPUS = (
    Device("t4", "T4 16GB", 15.0, bf16=False),
    Device("rtx4090", "RTX 4090 24GB", 23.99),
    Device("a100-40", "A100 40GB", 40.0),
    Device("a100-80", "A100 80GB", 80.0),
    Device("h100", "H100 80GB", 79.6),
    Device("h200", "H200 141GB", 140.4),
)


def pick_devices(names: list[str]) -> list[Device]:
    """The GPU rows: all of GPUS, or those named (a name from GPUS, or NAME=GiB for any other bf16 GPU)."""
    if not names:
        return list(GPUS)
    known = {gpu.name: gpu for gpu in GPUS}
    picked = []
    for name in names:
        label, _, size = name.partition("=")
        if size:
            try:
                picked.append(Device(label, f"{label} {float(size):g} GiB", float(size)))
            except ValueError:
                raise UserError(f"--device {name}: expected NAME=GiB, e.g. mygpu=48") from None
        elif name in known:
            picked.append(known[name])
        else:
            raise UserError(f"unknown --device '{name}'", hint=f"known: {', '.join(known)}; or NAME=GiB")
    return picked


@dataclass(frozen=True)
class Sequence:
    length: int
    label_share: float
    source: str  # where the length came from
    model_kwargs: dict


def run_sequence(config, source, objective, seq_len: int | None) -> Sequence:
    """The step's sequence length: --seq-len; else the longest prepared example of the run's data (the data stage
    runs as `tunesmith train` runs it, and caches its result for it); else data.max_length."""
    if seq_len:
        return Sequence(seq_len, 1.0, "--seq-len", {})
    tokenizer = load_tokenizer(source, config.model.revision, config.model.trust_remote_code)
    config, _ = decide_lengths(config, objective, source, tokenizer)
    if config.data.train is None:
        return Sequence(config.data.max_length, 1.0, "data.max_length (no data.train)", {})
    data = objective.prepare_data(config, tokenizer)
    longest = max(r["longest"] for r in data.report.values())
    kwargs = objective.head_kwargs(data)
    if not longest:  # grpo: prompts only, completions are generated
        return Sequence(config.data.max_length, 1.0, "data.max_length", kwargs)
    return Sequence(longest, label_share(data.report), "longest example of the run's data", kwargs)


@contextmanager
def hub_errors(source):
    """A Hub id that cannot be fetched (offline, unknown) becomes resolve.py's one-line UserError."""
    try:
        yield
    except OSError as exc:
        if source.origin != "hub":
            raise
        raise _hub_error(source, exc) from None


def _method_notes(method, config, hardware, task: str) -> list[str]:
    """The method's own pre-load check, reported rather than raised: the GPU rows still apply."""
    try:
        if method.check:
            method.check(config, hardware, task)
    except UserError as exc:
        return [f"note: on this machine {exc.message}"]
    return []


def _detect(config) -> tuple[object, list[str]]:
    """This machine as `tunesmith train` would see it; a dtype it cannot run is noted, not fatal, for the GPU rows."""
    try:
        return detect(config.model.dtype, config.model.device, config.training.threads), []
    except UserError as exc:
        return detect("auto", config.model.device, config.training.threads), [f"note: on this machine {exc.message}"]


def meta_model(config, source, objective, method, model_kwargs: dict):
    """The run's model with its method applied, on the meta device: shapes and requires_grad, no weights."""
    import torch
    import transformers

    code = config.model.trust_remote_code
    with hub_errors(source):
        hf_config = transformers.AutoConfig.from_pretrained(source.path, revision=config.model.revision,
                                                            trust_remote_code=code, **model_kwargs)
    # torch's meta device rather than accelerate's init_empty_weights: under the latter transformers does not tie the
    # embeddings to the LM head, which counted SmolLM2's 28M shared parameters twice. Adapters land on meta too.
    auto = getattr(transformers, MODEL_CLASSES[objective.model_kind])
    with torch.device("meta"):
        model = method.apply(auto.from_config(hf_config, trust_remote_code=code), config.method, objective.task)
        return fuse_adapters(model, config.fast)


@dataclass(frozen=True)
class Row:
    label: str
    dtype: str
    fit: Fit


@dataclass(frozen=True)
class RunPlan:
    config: object  # the RunConfig
    sequence: Sequence
    step: Step
    shape: ModelShape
    trainable: Trainable
    hardware: object  # tunesmith.hardware.Hardware
    rows: list[Row]  # this machine first, then the GPUs
    max_seq: int | None  # the model's position limit, which caps the longest sequence
    notes: list[str]  # e.g. why the method cannot run on this machine


def _device_rows(shape, trainable, step, config, hardware, gpus: list[Device], max_seq: int | None) -> list[Row]:
    own = what_fits(shape, trainable, step, hardware.dtype, hardware.device, hardware.available_memory_gb, max_seq)
    rows = [Row(f"this {hardware.device}", hardware.dtype, own)]
    for gpu in gpus:
        dtype = choose_dtype("cuda", config.model.dtype, gpu_bf16=gpu.bf16)
        rows.append(Row(gpu.label, dtype, what_fits(shape, trainable, step, dtype, "cuda", gpu.memory_gb, max_seq)))
    return rows


def plan_run(config, device_names: list[str] = (), seq_len: int | None = None, log=lambda line: None) -> RunPlan:
    """`tunesmith plan`: the run's memory on its own device and what fits on others, without loading weights."""
    quiet_libraries()
    method, objective = get_method(config.method.name), get_objective(config.objective.name)
    gpus = pick_devices(list(device_names))
    hardware, notes = _detect(config)
    notes += _method_notes(method, config, hardware, objective.task)
    source = resolve_model(config.model.name, log)
    with hub_errors(source):
        check_model_kind(source, objective.model_kind, config.model.revision, config.model.trust_remote_code)
    sequence = run_sequence(config, source, objective, seq_len)
    model = meta_model(config, source, objective, method, sequence.model_kwargs)
    trainable = read_trainable(model, nf4=method.four_bit_base)
    shape = ModelShape.from_config(model.config, logit_width(model))
    step = run_step(config, model, sequence.length, sequence.label_share)
    max_seq = getattr(model.config, "max_position_embeddings", None)
    rows = _device_rows(shape, trainable, step, config, hardware, gpus, max_seq)
    return RunPlan(config, sequence, step, shape, trainable, hardware, rows, max_seq, notes)
