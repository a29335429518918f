"""Load what `tunesmith serve` is given: run directories, exported folders, plain Hugging Face folders.

LoRA runs and adapter exports on the same base (and dtype/device) become adapters of one PeftModel, so the base
weights are in memory once; the worker activates the request's adapter before each batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.serve.models import ModelPool, SafeTokenizer, ServedModel


@dataclass(frozen=True)
class Plan:
    name: str
    kind: str  # "full" (a whole model folder), "adapter" (PEFT adapter on a base) or "int8" (int8 export)
    weights: str  # model folder, adapter folder or int8 export folder
    tokenizer: str  # folder holding the tokenizer (with its chat template)
    model_kind: str = "causal_lm"  # causal_lm (served for generation) or seq_cls (served for /v1/classify)
    base: object = None  # ModelSource of the base model, for adapters
    model_kwargs: dict = field(default_factory=dict)  # from_pretrained arguments of the base (num_labels...)
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
    name = name or path.name
    if (path / "config.yaml").is_file():
        return _plan_run(name, path)
    if (path / "tunesmith_export.json").is_file():
        return _plan_export(name, path, json.loads((path / "tunesmith_export.json").read_text()))
    if (path / "adapter_config.json").is_file():
        return _plan_adapter(name, path, {})
    if (path / "config.json").is_file():
        config = json.loads((path / "config.json").read_text())
        architecture = (config.get("architectures") or [""])[0]
        kind = "seq_cls" if architecture.endswith("ForSequenceClassification") else "causal_lm"
        _check_servable(path, "seq2seq" if config.get("is_encoder_decoder") else kind)
        return Plan(name, "full", str(path), str(path), kind)
    raise UserError(f"{path} is not a run directory, a tunesmith export or a Hugging Face model folder",
                    hint="pass runs/<name>, a folder written by `tunesmith export`, or a folder with config.json")


def _check_servable(path: Path, model_kind: str) -> None:
    if model_kind not in ("causal_lm", "seq_cls"):
        raise UserError(f"{path} holds a {model_kind} model; this server runs causal LMs and classifiers",
                        hint="export it and load it with transformers directly")


def _plan_run(name: str, run: Path) -> Plan:
    from tunesmith.export import model_kwargs
    from tunesmith.inference import artifact_dir
    from tunesmith.models import resolve_model
    from tunesmith.objectives import get_objective
    from tunesmith.runs import open_run

    config, manifest = open_run(run)
    model_kind = get_objective(config.objective.name).model_kind
    _check_servable(run, model_kind)
    weights = artifact_dir(run)
    if weights is None:
        raise UserError(f"{run} has no trained weights yet (no adapter/ or model/)",
                        hint=f"finish it with `tunesmith train --resume {run}`")
    common = dict(model_kind=model_kind, dtype=config.model.dtype, device=config.model.device,
                  system_prompt=config.data.system_prompt)
    if weights.name == "model":
        return Plan(name, "full", str(weights), str(weights), **common)
    base = resolve_model(config.model.name)
    tokenizer = str(weights) if (weights / "tokenizer_config.json").is_file() else base.path
    return Plan(name, "adapter", str(weights), tokenizer, base=base, model_kwargs=model_kwargs(manifest), **common)


def _plan_export(name: str, folder: Path, info: dict) -> Plan:
    from tunesmith.export import model_kwargs

    fmt, model_kind = info.get("format"), info.get("model_kind", "causal_lm")
    if fmt == "onnx":
        raise UserError(f"{folder} is an ONNX export, which runs in onnxruntime, not in this server",
                        hint="serve the run itself or a safetensors/int8 export of it")
    _check_servable(folder, model_kind)
    if fmt == "adapter":
        return _plan_adapter(name, folder, info)
    int8 = fmt == "int8"
    return Plan(name, "int8" if int8 else "full", str(folder), str(folder), model_kind,
                model_kwargs=model_kwargs(info), system_prompt=info.get("system_prompt"),
                device="cpu" if int8 else "auto")


def _plan_adapter(name: str, folder: Path, info: dict) -> Plan:
    from tunesmith.export import model_kwargs
    from tunesmith.models import resolve_model

    base_name = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base_name:
        raise UserError(f"{folder}/adapter_config.json does not name its base model (base_model_name_or_path)")
    tokenizer = str(folder) if (folder / "tokenizer_config.json").is_file() else base_name
    return Plan(name, "adapter", str(folder), tokenizer, info.get("model_kind", "causal_lm"),
                resolve_model(base_name), model_kwargs(info), system_prompt=info.get("system_prompt"))


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
    labels = ()
    if plan.model_kind == "seq_cls":
        labels = tuple(config.id2label[i] for i in range(config.num_labels))
        if config.pad_token_id is None:  # decoder classifiers read the last non-pad token of each row
            config.pad_token_id = tokenizer.pad_token_id
    return ServedModel(
        plan.name, "classify" if plan.model_kind == "seq_cls" else "generate", model, SafeTokenizer(tokenizer),
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


def _load_full(plan: Plan, hardware, shared: dict):
    from tunesmith.models import ModelSource, load_model

    model = load_model(ModelSource(plan.weights, plan.weights, "local"), plan.model_kind, hardware.dtype)
    return model.to(hardware.device).eval(), None


def _load_int8(plan: Plan, hardware, shared: dict):
    from tunesmith.export.quantize import load_int8

    return load_int8(Path(plan.weights), plan.model_kind).eval(), None


def _load_adapter(plan: Plan, hardware, shared: dict):
    """Attach the adapter to the shared PeftModel of its base, loading the base the first time it is needed."""
    from peft import PeftModel

    from tunesmith.models import load_model

    key = (plan.base.path, plan.model_kind, json.dumps(plan.model_kwargs, sort_keys=True, default=str),
           hardware.dtype, hardware.device)
    adapter = f"adapter_{sum(len(m.peft_config) for m in shared.values())}"  # PEFT names must be module-safe
    if key in shared:
        shared[key].load_adapter(plan.weights, adapter_name=adapter)
    else:
        base = load_model(plan.base, plan.model_kind, hardware.dtype, **plan.model_kwargs)
        shared[key] = PeftModel.from_pretrained(base, plan.weights, adapter_name=adapter).to(hardware.device).eval()
    return shared[key], adapter


LOADERS = {"full": _load_full, "int8": _load_int8, "adapter": _load_adapter}
