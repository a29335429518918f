"""Load what `tunesmith serve` is given: run directories, exported folders, plain Hugging Face folders.

LoRA runs and adapter exports on the same base (and dtype/device) become adapters of one PeftModel, so the base
weights are in memory once; the worker activates the request's adapter before each batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.serve.models import ModelPool, SafeTokenizer, ServedModel


@dataclass(frozen=True)
class Plan:
    name: str
    kind: str  # "causal_lm", "adapter", "int8" or "classifier"
    weights: str  # model folder, adapter folder or int8 export folder
    tokenizer: str  # folder holding the tokenizer (with its chat template)
    base: object = None  # ModelSource of the base model, for adapters
    dtype: str = "auto"
    device: str = "auto"
    system_prompt: str | None = None


def parse_spec(text: str) -> tuple[str | None, Path]:
    """'NAME=PATH' or 'PATH'."""
    name, sep, path = text.partition("=")
    if sep and name and "/" not in name:
        return name, Path(path)
    return None, Path(text)


def plan_model(name: str | None, path: Path) -> Plan:
    if (path / "config.yaml").is_file():
        return _plan_run(name or path.name, path)
    if (path / "tunesmith_export.json").is_file():
        return _plan_export(name or path.name, path, json.loads((path / "tunesmith_export.json").read_text()))
    if (path / "adapter_config.json").is_file():
        return _plan_adapter(name or path.name, path, None)
    if (path / "config.json").is_file():
        architectures = json.loads((path / "config.json").read_text()).get("architectures") or [""]
        kind = "classifier" if architectures[0].endswith("ForSequenceClassification") else "causal_lm"
        return Plan(name or path.name, kind, str(path), str(path))
    raise UserError(f"{path} is not a run directory, a tunesmith export or a Hugging Face model folder",
                    hint="pass runs/<name>, a folder written by `tunesmith export`, or a folder with config.json")


def _plan_run(name: str, run: Path) -> Plan:
    from tunesmith.inference import artifact_dir
    from tunesmith.models import resolve_model
    from tunesmith.runs import open_run

    config, _ = open_run(run)
    weights = artifact_dir(run)
    if weights is None:
        raise UserError(f"{run} has no trained weights yet (no adapter/ or model/)",
                        hint=f"finish it with `tunesmith train --resume {run}`")
    base = resolve_model(config.model.name)
    common = dict(dtype=config.model.dtype, device=config.model.device, system_prompt=config.data.system_prompt)
    if weights.name == "model":
        return Plan(name, "causal_lm", str(weights), str(weights), **common)
    tokenizer = str(weights) if (weights / "tokenizer_config.json").is_file() else base.path
    return Plan(name, "adapter", str(weights), tokenizer, base, **common)


def _plan_export(name: str, folder: Path, info: dict) -> Plan:
    fmt, system_prompt = info.get("format"), info.get("system_prompt")
    if fmt == "onnx":
        raise UserError(f"{folder} is an ONNX export, which runs in onnxruntime, not in this server",
                        hint="serve the run itself or a safetensors/int8 export of it")
    if fmt == "adapter":
        return _plan_adapter(name, folder, system_prompt)
    kind = "int8" if fmt == "int8" else "causal_lm"
    return Plan(name, kind, str(folder), str(folder), system_prompt=system_prompt,
                device="cpu" if kind == "int8" else "auto")


def _plan_adapter(name: str, folder: Path, system_prompt: str | None) -> Plan:
    from tunesmith.models import resolve_model

    base_name = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base_name:
        raise UserError(f"{folder}/adapter_config.json does not name its base model (base_model_name_or_path)")
    tokenizer = str(folder) if (folder / "tokenizer_config.json").is_file() else base_name
    return Plan(name, "adapter", str(folder), tokenizer, resolve_model(base_name), system_prompt=system_prompt)


def load_models(specs: list[str], log=print) -> ModelPool:
    """Every model named on the command line, loaded once; adapters on a shared base join one PeftModel."""
    plans = [plan_model(*parse_spec(spec)) for spec in specs]
    names = [p.name for p in plans]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise UserError(f"two models would both be served as '{duplicate}'", hint="name them: NAME=PATH")
    shared: dict[tuple, object] = {}
    served = []
    for plan in plans:
        served.append(_load(plan, shared))
        log(f"loaded {plan.name} ({plan.kind} from {plan.weights})")
    return ModelPool(served)


def _load(plan: Plan, shared: dict) -> ServedModel:
    from transformers import AutoTokenizer

    from tunesmith.hardware import detect

    hardware = detect(plan.dtype, plan.device)
    model, adapter = LOADERS[plan.kind](plan, hardware, shared)
    tokenizer = AutoTokenizer.from_pretrained(plan.tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = model.config
    labels = tuple(config.id2label[i] for i in range(config.num_labels)) if plan.kind == "classifier" else ()
    return ServedModel(
        plan.name, "classify" if plan.kind == "classifier" else "generate", model, SafeTokenizer(tokenizer),
        plan.weights, adapter, plan.system_prompt, context_length(config, tokenizer), end_ids(model, tokenizer),
        labels,
    )


def context_length(config, tokenizer) -> int:
    limit = getattr(config, "max_position_embeddings", None)
    if limit:
        return int(limit)
    return tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else 2048


def end_ids(model, tokenizer) -> tuple[int, ...]:
    """Tokens that end a reply: the tokenizer's end-of-turn plus whatever the model's generation config lists."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    configured = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
    ids = [tokenizer.eos_token_id, *configured]
    return tuple(dict.fromkeys(i for i in ids if i is not None))


def _load_causal_lm(plan: Plan, hardware, shared: dict):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(plan.weights, dtype=getattr(torch, hardware.dtype))
    return model.to(hardware.device).eval(), None


def _load_classifier(plan: Plan, hardware, shared: dict):
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(plan.weights, dtype=getattr(torch, hardware.dtype))
    return model.to(hardware.device).eval(), None


def _load_int8(plan: Plan, hardware, shared: dict):
    from tunesmith.export.quantize import load_int8

    return load_int8(Path(plan.weights)).eval(), None


def _load_adapter(plan: Plan, hardware, shared: dict):
    """Attach the adapter to the shared PeftModel of its base, loading the base the first time it is needed."""
    from peft import PeftModel

    from tunesmith.models import load_causal_lm

    key = (plan.base.path, hardware.dtype, hardware.device)
    adapter = f"adapter_{sum(len(m.peft_config) for m in shared.values())}"  # PEFT names must be module-safe
    if key in shared:
        shared[key].load_adapter(plan.weights, adapter_name=adapter)
    else:
        base = load_causal_lm(plan.base, hardware.dtype)
        shared[key] = PeftModel.from_pretrained(base, plan.weights, adapter_name=adapter).to(hardware.device).eval()
    return shared[key], adapter


LOADERS = {"causal_lm": _load_causal_lm, "classifier": _load_classifier, "int8": _load_int8, "adapter": _load_adapter}
