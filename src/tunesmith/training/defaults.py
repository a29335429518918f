"""Training settings left unset (null) in the config, decided for the run: the learning rate by method and model
family and width, epochs by the number of training rows, and the validation metric that picks the best checkpoint
by objective. Every decided value carries the reason, logged at the start of training, kept in the manifest
(`defaults`) and listed by `tunesmith config --explain`.

The rates come from measurement on the shipped reviews task (540 training rows, 200 test rows, batch 16): MiniLM-L6
(width 384) fully trained scored 88.5% at the tutorial rate 5e-5, 90.5% at 1e-4, 93.0% at 2e-4 and 89.5% at 3e-4;
LoRA on it 88.0% at 5e-4 and 84.0% at 1e-3; SmolLM2-135M's head on frozen features 90.0% at 3e-3, 90.5% at 1e-2 and
87.0% at 3e-2, while at the old one-size default 2e-4 a head stays near chance. LoRA SFT of SmolLM2-135M (width
576) on the order-extraction task (480 rows, 5 epochs, benchmarks/quality.py): JSON exact match 88.3% at the
common 2e-4, 95.0% at 6e-4 (the rate `--auto` found); the width rule gives it 5.3e-4 and a 7B-class model 2e-4.
BERT's published rates (2e-5 to 5e-5 at width 768-1024) anchor the width scaling of encoders; the rates of ia3 and
prompt/prefix tuning follow PEFT's examples and are not measured here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunesmith.config import RunConfig
from tunesmith.objectives.lengths import rules as length_rules

# Learning rate of full (and freeze) fine-tuning: the usual rate at a reference width, scaled by
# (reference width / the model's width) ** power, then held inside [low, high]. Narrow models take larger steps.
FULL_RATE = {"encoder": (5e-5, 768, 2.0), "decoder": (2e-5, 2048, 0.5)}  # family: (rate, width, power)
FULL_BOUNDS = (1e-5, 3e-4)
# Parameter-efficient methods: one rate per method (and family where they differ). LoRA on a decoder is scaled
# by width like full fine-tuning: the common 2e-4 belongs to 7B-class models (width 4096).
LORA_DECODER = (2e-4, 4096, 0.5)  # rate at width, power
LORA_BOUNDS = (1e-4, 1e-3)
PEFT_RATES = {
    ("lora", "encoder"): 5e-4,
    ("ia3", None): 3e-3, ("prompt_tuning", None): 3e-2, ("prefix_tuning", None): 1e-2,
    ("head", None): 1e-2,
}
SAME_RATE_AS = {"dora": "lora", "qlora": "lora", "freeze": "full"}
# Epochs by training rows: (fewer than this many rows, epochs).
EPOCHS_BY_ROWS = ((1_000, 5), (10_000, 3), (100_000, 2))
HEAD_EPOCH_FACTOR, HEAD_EPOCHS_MAX = 4, 30  # a head on cached features costs little per epoch and learns slowly
PATIENCE = 5  # evaluations without improvement before stopping early


@dataclass(frozen=True)
class ModelShape:
    family: str  # "encoder" (BERT-like), "decoder" (causal LM) or "encoder-decoder"
    width: int | None  # hidden size


def model_shape(path: str, revision: str | None = None, trust_remote_code: bool = False) -> ModelShape:
    """The family and width of a model from its config alone (no weights)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
    architectures = " ".join(config.architectures or [])
    if config.is_encoder_decoder:
        family = "encoder-decoder"
    elif "CausalLM" in architectures or getattr(config, "is_decoder", False) or config.model_type in (
            "llama", "gpt2", "qwen2", "mistral", "phi", "gemma", "gpt_neox", "opt"):
        family = "decoder"
    else:
        family = "encoder"
    width = getattr(config, "hidden_size", None) or getattr(config, "d_model", None) or getattr(config, "n_embd", None)
    return ModelShape(family, width)


def learning_rate(method: str, shape: ModelShape) -> tuple[float, str]:
    """(rate, why) for a method on a model of this shape."""
    name = SAME_RATE_AS.get(method, method)
    family = "decoder" if shape.family == "encoder-decoder" else shape.family
    if name == "full":
        return _by_width(FULL_RATE[family], FULL_BOUNDS, shape.width), (
            f"{method} fine-tuning of a {shape.width or '?'}-wide {family}: {_rule(FULL_RATE[family])}")
    if name == "lora" and family == "decoder":
        return _by_width(LORA_DECODER, LORA_BOUNDS, shape.width), (
            f"method {method} on a {shape.width or '?'}-wide decoder: {_rule(LORA_DECODER)}")
    rate = PEFT_RATES.get((name, family), PEFT_RATES.get((name, None)))
    if rate is None:
        return 2e-4, f"no measured rate for method {method}: the common LoRA rate"
    return rate, f"method {method} on a {family}"


def _by_width(rule: tuple[float, int, float], bounds: tuple[float, float], width: int | None) -> float:
    """rate x (reference width / width) ** power, held inside bounds, to two significant digits."""
    rate, reference, power = rule
    scaled = rate * (reference / width) ** power if width else rate
    return float(f"{min(max(scaled, bounds[0]), bounds[1]):.2g}")


def _rule(rule: tuple[float, int, float]) -> str:
    rate, width, power = rule
    return f"{rate:g} at width {width} x (width ratio)^{power}"


def epochs(method: str, rows: int) -> tuple[float, str]:
    """(epochs, why) for `rows` training rows."""
    count = next((n for limit, n in EPOCHS_BY_ROWS if rows < limit), 1)
    why = f"{rows:,} training rows"
    if method == "head":
        return float(min(count * HEAD_EPOCH_FACTOR, HEAD_EPOCHS_MAX)), why + " (x4: a head on cached features)"
    return float(count), why


def resolve(config: RunConfig, method: str, best_metric: str, shape: ModelShape, rows: int,
            has_validation: bool) -> tuple[RunConfig, dict]:
    """The config with every unset training default decided, and {field: {"value", "why"}} for those."""
    t, chosen = config.training, {}
    if t.learning_rate is None:
        chosen["learning_rate"] = learning_rate(method, shape)
    if t.epochs is None:
        chosen["epochs"] = epochs(method, rows) if t.max_steps <= 0 else (1.0, "max_steps is set")
    if t.metric_for_best is None:
        chosen["metric_for_best"] = (best_metric, "the objective's validation metric")
    if t.keep_best is None:
        chosen["keep_best"] = (has_validation, "a validation split to choose by" if has_validation
                               else "no validation split")
    if t.early_stopping_patience is None and has_validation and t.max_steps <= 0:
        chosen["early_stopping_patience"] = (PATIENCE, f"{PATIENCE} evaluations without improvement")
    resolved = config.model_copy(deep=True)
    for field, (value, _) in chosen.items():
        setattr(resolved.training, field, value)
    return resolved, {field: {"value": value, "why": why} for field, (value, why) in chosen.items()}


def decide(config: RunConfig, objective, source, data) -> tuple[RunConfig, dict]:
    """`resolve` for a run whose data is prepared: the model's shape from its config, the rows from the data."""
    shape = model_shape(source.path, config.model.revision, config.model.trust_remote_code)
    rows = len(data.tokenized.get("train") or data.splits.get("train") or [])
    return resolve(config, config.method.name, objective.best_metric, shape, rows,
                   bool(data.tokenized.get("validation")))


def decide_batch(config: RunConfig, objective) -> tuple[RunConfig, dict]:
    """training.batch_size left unset: the objective's batch, the one its default rates were measured at."""
    if config.training.batch_size is not None:
        return config, {}
    resolved = config.model_copy(deep=True)
    resolved.training.batch_size = objective.batch_size
    return resolved, {"batch_size": {"value": objective.batch_size,
                                     "why": f"objective {objective.name}'s batch (the default rates' own)"}}


def fit_batch(config: RunConfig, fits) -> tuple[RunConfig, str | None]:
    """A decided batch split into micro-batches until `fits(config)` (the memory plan fits the free memory);
    gradient accumulation keeps the batch the optimizer sees. (config, why) or (config, None) when it fit."""
    t = config.training
    micro, accumulate = t.batch_size, t.gradient_accumulation_steps
    resolved = config
    while micro > 1 and micro % 2 == 0 and not fits(resolved):
        micro, accumulate = micro // 2, accumulate * 2
        resolved = config.model_copy(deep=True)
        resolved.training.batch_size, resolved.training.gradient_accumulation_steps = micro, accumulate
    if resolved is config:
        return config, None
    return resolved, (f"batch {t.batch_size} does not fit the memory plan: micro-batches of {micro} x "
                      f"{accumulate} accumulation steps")


def describe(chosen: dict) -> str:
    return "defaults: " + "; ".join(f"{field} {_show(v['value'])} ({v['why']})" for field, v in chosen.items())


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) and not math.isnan(value) else str(value)


def rules() -> list[tuple[str, str]]:
    """(field, how its default is decided): the table `tunesmith config --explain` prints."""
    full = ", ".join(f"{family} {_rule(rule)}" for family, rule in FULL_RATE.items())
    peft = f"lora/decoder {_rule(LORA_DECODER)} within {LORA_BOUNDS[0]:g}-{LORA_BOUNDS[1]:g}, " + ", ".join(
        f"{m}{'/' + f if f else ''} {r:g}" for (m, f), r in PEFT_RATES.items())
    rows = ", ".join(f"<{limit:,} rows: {n}" for limit, n in EPOCHS_BY_ROWS) + ", more: 1"
    return [
        *length_rules(),
        ("training.learning_rate", f"full/freeze: {full}, within {FULL_BOUNDS[0]:g}-{FULL_BOUNDS[1]:g}; {peft}; "
                                   + ", ".join(f"{a} as {b}" for a, b in SAME_RATE_AS.items() if a != "freeze")),
        ("training.epochs", f"{rows}; method head x{HEAD_EPOCH_FACTOR} (at most {HEAD_EPOCHS_MAX})"),
        ("training.batch_size", "the objective's (16 for classification, 8 otherwise), halved with gradient "
                                "accumulation doubled while the memory plan does not fit"),
        ("training.metric_for_best", "the objective's: eval_accuracy for classification, eval_loss otherwise"),
        ("training.keep_best", "true when there is a validation split"),
        ("training.early_stopping_patience", f"{PATIENCE} evaluations when there is a validation split and no "
                                             "max_steps"),
    ]
