"""Load what `tunesmith serve` is given: run directories, exported folders, plain Hugging Face folders.

LoRA runs and adapter exports on the same base (and dtype/device) become adapters of one PeftModel, so the base
weights are in memory once; the worker activates the request's adapter before each batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.export import EXPORT_INFO
from tunesmith.hardware import detect
from tunesmith.models import context_length
from tunesmith.models.saved import (
    SavedModel,
    load_saved_tokenizer,
    load_weights,
    saved_model_of_export,
    saved_model_of_folder,
    saved_model_of_run,
)
from tunesmith.runs import open_run, read_json
from tunesmith.serve.models import ModelPool, SafeTokenizer, ServedModel
from tunesmith.serve.runtimes import export_runtime_plan, load_gguf, load_onnx_classifier

# How each `serving` of a SavedModel is routed: a one-output scorer (reward model) answers on /v1/classify too,
# with its raw score.
ROUTED_AS = {"generate": "generate", "classify": "classify", "score": "classify"}


@dataclass(frozen=True)
class Plan:
    name: str
    saved: SavedModel | None  # what the folder holds and how to load it (tunesmith.models.saved); None: runtime
    dtype: str = "auto"
    device: str = "auto"
    runtime: str = "torch"  # or "llama_cpp" (a .gguf file) / "onnx" (an ONNX classifier): serve/runtimes.py
    file: Path | None = None  # what the runtime loads
    system_prompt: str | None = None  # runtime plans: the export's system prompt

    def describe(self) -> str:
        return f"{self.saved.format} from {self.saved.weights}" if self.saved else f"{self.runtime}: {self.file}"


def parse_spec(text: str) -> tuple[str | None, Path]:
    """'NAME=PATH' or 'PATH'."""
    name, sep, path = text.partition("=")
    if sep and name and "/" not in name:
        return name, Path(path)
    return None, Path(text)


def plan_model(name: str | None, path: Path) -> Plan:
    """What to load for `path`: a run directory, a tunesmith export, a PEFT adapter or a Hugging Face folder."""
    name = name or path.name
    if path.suffix == ".gguf" and path.is_file():
        info = read_json(path.parent / EXPORT_INFO)
        return Plan(name.removesuffix(".gguf"), None, runtime="llama_cpp", file=path,
                    system_prompt=info.get("system_prompt"))
    if (path / "config.yaml").is_file():
        config, _ = open_run(path)
        plan = Plan(name, saved_model_of_run(path), config.model.dtype, config.model.device)
        if not Path(plan.saved.weights).is_dir():
            raise UserError(f"{path} has no trained weights yet", hint=f"finish it with `tunesmith train --resume {path}`")
    elif (path / EXPORT_INFO).is_file():
        plan = _plan_export(name, path, read_json(path / EXPORT_INFO))
    elif (path / "adapter_config.json").is_file() or (path / "config.json").is_file():
        plan = Plan(name, saved_model_of_folder(path))
    else:
        raise UserError(f"{path} is not a run directory, a tunesmith export or a Hugging Face model folder",
                        hint="pass runs/<name>, a folder written by `tunesmith export`, or a folder with config.json")
    if plan.saved is not None and plan.saved.serving not in ROUTED_AS:
        raise UserError(f"{path} holds a {plan.saved.model_kind} model ({plan.saved.objective or 'no objective'}); "
                        "this server runs text generators, classifiers and scorers",
                        hint="export it and load it with transformers directly")
    return plan


def _plan_export(name: str, folder: Path, info: dict) -> Plan:
    runtime = export_runtime_plan(folder, info)
    if runtime:
        return Plan(name, None, runtime=runtime[0], file=runtime[1], system_prompt=info.get("system_prompt"))
    saved = SavedModel.from_record(info["model"], folder) if info.get("model") else saved_model_of_export(folder, info)
    return Plan(name, saved, device="cpu" if saved.format == "int8" else "auto")


def load_models(specs: list[str], log=print) -> ModelPool:
    """Every model named on the command line, loaded once; adapters on a shared base join one PeftModel."""
    plans = [plan_model(*parse_spec(spec)) for spec in specs]
    names = [p.name for p in plans]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise UserError(f"two models would both be served as '{duplicate}'", hint="name them: NAME=PATH")
    bases: dict[tuple, object] = {}
    served = []
    for plan in plans:
        served.append(_load(plan, bases))
        log(f"loaded {plan.name} ({plan.describe()})")
    return ModelPool(served)


def _load(plan: Plan, bases: dict) -> ServedModel:
    if plan.runtime == "llama_cpp":
        return load_gguf(plan.name, plan.file, plan.system_prompt)
    if plan.runtime == "onnx":
        return load_onnx_classifier(plan.name, plan.file)
    hardware = detect(plan.dtype, plan.device)
    saved = plan.saved
    model, adapter = load_weights(saved, hardware.dtype, hardware.device, bases)
    tokenizer = load_saved_tokenizer(saved)
    config = model.config
    task = ROUTED_AS[saved.serving]
    labels = ()
    if task == "classify":
        labels = tuple(config.id2label[i] for i in range(config.num_labels))
        if config.pad_token_id is None:  # decoder classifiers read the last non-pad token of each row
            config.pad_token_id = tokenizer.pad_token_id
    return ServedModel(plan.name, task, model, SafeTokenizer(tokenizer), saved.weights, adapter, saved.system_prompt,
                       served_context(config, tokenizer), end_ids(model, tokenizer), labels)


UNKNOWN_CONTEXT = 2048  # tokens served where neither the model nor its tokenizer says how far it reads


def served_context(config, tokenizer) -> int:
    return context_length(config, tokenizer) or UNKNOWN_CONTEXT


def end_ids(model, tokenizer) -> tuple[int, ...]:
    """Tokens that end a reply: the tokenizer's end-of-turn plus whatever the model's generation config lists."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    configured = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
    ids = [tokenizer.eos_token_id, *configured]
    return tuple(dict.fromkeys(i for i in ids if i is not None))
