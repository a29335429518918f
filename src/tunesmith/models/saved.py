"""What saved weights are, and the one way to load them ready to use.

Whoever writes weights records a `SavedModel` beside them: a run in its manifest (`"model"`, written when training
starts and the trainer is built), an export in `tunesmith_export.json`. It says whether the folder holds whole
weights, a PEFT adapter or int8 weights, which model class reads them, the base an adapter sits on, a new head's
shape and the tokenizer's pad fix-up. Every reader (eval, export, serve, the studio, chat, the reload check after
training) loads through `load_saved` or `load_run`; none of them looks inside the folder to guess.

Runs saved before the record existed are read from their layout once (adapter/ or model/, the adapter's PEFT task
or the model's architecture) and the record is added to their manifest, with a message.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import UserError
from tunesmith.hardware import detect
from tunesmith.models.int8 import load_int8
from tunesmith.models.resolve import (
    ModelSource,
    load_model,
    load_tokenizer,
    resolve_model,
)
from tunesmith.runs import open_run, read_json, update_manifest

ARTIFACT_FORMATS = {"adapter": "adapter", "model": "full"}  # run folder name -> SavedModel.format
PEFT_TASKS = {"CAUSAL_LM": "causal_lm", "SEQ_CLS": "seq_cls", "SEQ_2_SEQ_LM": "seq2seq"}


@dataclass(frozen=True)
class SavedModel:
    format: str  # "full" (a whole model folder), "adapter" (PEFT adapter on `base`) or "int8" (int8 export)
    weights: str  # the folder holding them
    model_kind: str  # causal_lm, seq_cls or seq2seq: which Auto class reads them
    tokenizer: str  # folder (or model name) holding the tokenizer with its chat template
    serving: str | None = "generate"  # how `tunesmith serve` runs it: generate, classify, score, or None
    base: str | None = None  # the model the weights started from (alias, folder, .gguf or Hub id)
    model_kwargs: dict = field(default_factory=dict)  # from_pretrained arguments of a new head (num_labels...)
    pad_token_id: int | None = None  # set on the loaded config: decoder classifiers pool at the last non-pad token
    objective: str | None = None
    system_prompt: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False

    def as_record(self, folder: Path) -> dict:
        """JSON for the manifest or export info; paths inside `folder` are kept relative, so a moved folder loads."""
        record = dataclasses.asdict(self)
        for key in ("weights", "tokenizer"):
            record[key] = _relative(record[key], folder)
        return record

    @classmethod
    def from_record(cls, record: dict, folder: Path) -> SavedModel:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["weights"] = str(folder / values["weights"])  # absolute stays absolute
        tokenizer = folder / values["tokenizer"]
        # A run records its own tokenizer copy before it is saved; until then the base's is the same one.
        values["tokenizer"] = str(tokenizer) if tokenizer.exists() else values.get("base") or values["tokenizer"]
        return cls(**{**values, "model_kwargs": with_int_keys(values.get("model_kwargs") or {})})


def _relative(path: str, folder: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(folder.resolve()))
    except ValueError:
        return path


def with_int_keys(kwargs: dict) -> dict:
    """JSON turned id2label's integer keys into strings; transformers wants them back."""
    if "id2label" in kwargs:
        kwargs = {**kwargs, "id2label": {int(k): v for k, v in kwargs["id2label"].items()}}
    return kwargs


def serving_for(model_kind: str, model_kwargs: dict) -> str | None:
    """How a model of this kind is served when nothing recorded it (old runs, plain Hugging Face folders)."""
    if model_kind == "seq_cls":
        return "score" if model_kwargs.get("num_labels") == 1 else "classify"
    return "generate" if model_kind == "causal_lm" else None


# ---- loading ------------------------------------------------------------------------------------------------


def load_base_model(saved: SavedModel, dtype: str, seed: int | None = None):
    """The model `saved` started from, with its new head shaped as in training (and initialised from `seed`, as it
    was when training began)."""
    if seed is not None:
        from transformers import set_seed

        set_seed(seed)
    source = resolve_model(saved.base, log=lambda *_: None)
    model = load_model(source, saved.model_kind, dtype, saved.revision, saved.trust_remote_code, **saved.model_kwargs)
    return _fix_pad(model, saved)


def _fix_pad(model, saved: SavedModel):
    if saved.pad_token_id is not None:
        model.config.pad_token_id = saved.pad_token_id
    return model


def _load_adapter(saved: SavedModel, dtype: str, device: str, bases: dict | None):
    """The adapter on its base; with `bases`, adapters on the same base share one PeftModel (one copy in memory)."""
    from peft import PeftModel

    key = (saved.base, saved.model_kind, json.dumps(saved.model_kwargs, sort_keys=True, default=str), dtype, device)
    if bases is not None and key in bases:
        name = f"adapter_{len(bases[key].peft_config)}"  # PEFT adapter names must be module-safe
        bases[key].load_adapter(saved.weights, adapter_name=name)
        return bases[key], name
    # Alone it keeps PEFT's "default" name, so saving it again writes the folder's own layout.
    name = "default" if bases is None else "adapter_0"
    model = PeftModel.from_pretrained(load_base_model(saved, dtype), saved.weights, adapter_name=name)
    if bases is not None:
        bases[key] = model
    return model, name


def load_weights(saved: SavedModel, dtype: str, device: str, bases: dict | None = None) -> tuple[Any, str | None]:
    """(model in eval mode on `device`, the PEFT adapter name to activate or None)."""
    if saved.format == "adapter":
        model, adapter = _load_adapter(saved, dtype, device, bases)
        return model.to(device).eval(), adapter
    if saved.format == "int8":
        return _fix_pad(load_int8(Path(saved.weights), saved.model_kind), saved).eval(), None  # CPU kernels only
    model = load_model(ModelSource(saved.weights, saved.weights, "local"), saved.model_kind, dtype)
    return _fix_pad(model, saved).to(device).eval(), None


def load_saved_tokenizer(saved: SavedModel):
    folder = Path(saved.tokenizer)
    source = ModelSource(str(folder), str(folder), "local") if folder.is_dir() else resolve_model(
        saved.tokenizer, log=lambda *_: None)
    return load_tokenizer(source, saved.revision, saved.trust_remote_code)


# ---- folders that are not runs --------------------------------------------------------------------------------

EXPORT_FORMATS = {"safetensors": "full", "adapter": "adapter", "int8": "int8"}  # tunesmith_export.json "format"


def saved_model_of_folder(folder: Path, **given) -> SavedModel:
    """A PEFT adapter folder (on the base its adapter_config.json names) or a Hugging Face model folder, read from
    its own files; `given` fills or overrides fields (model_kwargs, system_prompt...)."""
    kind = folder_model_kind(folder)
    own_tokenizer = (folder / "tokenizer_config.json").is_file()
    if (folder / "adapter_config.json").is_file():
        base = read_json(folder / "adapter_config.json").get("base_model_name_or_path")
        if not base:
            raise UserError(f"{folder}/adapter_config.json does not name its base model (base_model_name_or_path)")
        fields = dict(format="adapter", base=base, tokenizer=str(folder) if own_tokenizer else base)
    else:
        fields = dict(format="full", base=str(folder), tokenizer=str(folder))
    fields = {**fields, "weights": str(folder), "model_kind": kind, **given}
    return SavedModel(serving=given.get("serving", serving_for(kind, fields.get("model_kwargs") or {})),
                      **{k: v for k, v in fields.items() if k != "serving"})


def saved_model_of_export(folder: Path, info: dict) -> SavedModel:
    """An export written before exports recorded a SavedModel: its tunesmith_export.json fields."""
    kwargs = with_int_keys(info.get("model_kwargs") or {})
    given = dict(model_kind=info.get("model_kind", "causal_lm"), model_kwargs=kwargs,
                 system_prompt=info.get("system_prompt"), format=EXPORT_FORMATS.get(info.get("format"), "full"))
    return saved_model_of_folder(folder, **given)


# ---- runs -----------------------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    """A run's model ready to use, with what it was trained from."""

    run: Path
    model: Any
    tokenizer: Any
    config: Any  # the run's RunConfig
    saved: SavedModel

    def load_base(self):
        """The untouched starting model, loaded the way training loaded it (same seed, same head shape)."""
        dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")
        return load_base_model(self.saved, dtype, self.config.training.seed)


def run_record(config, artifact: str, model_kind: str, serving: str | None, model_kwargs: dict,
               pad_token_id: int | None) -> SavedModel:
    """What a run will save, recorded by training before it fits (paths relative to the run folder)."""
    return SavedModel(ARTIFACT_FORMATS[artifact], artifact, model_kind, artifact, serving, config.model.name,
                      model_kwargs, pad_token_id, config.objective.name, config.data.system_prompt,
                      config.model.revision, config.model.trust_remote_code)


def saved_model_of_run(run: Path, log=print) -> SavedModel:
    """The run's SavedModel; a run saved before records existed is read from its layout and recorded once."""
    config, manifest = open_run(run)
    if manifest.get("model"):
        return SavedModel.from_record(manifest["model"], run)
    saved = _legacy_record(run, config, manifest)
    update_manifest(run, model=saved.as_record(run))
    log(f"{run}: saved before runs recorded how to load them; read its layout once and added the record to "
        "manifest.json")
    return SavedModel.from_record(saved.as_record(run), run)


def _legacy_record(run: Path, config, manifest: dict) -> SavedModel:
    folder = next((run / name for name in ARTIFACT_FORMATS if (run / name).is_dir()), None)
    if folder is None:
        raise UserError(f"{run} has no trained weights yet (no adapter/ or model/)",
                        hint=f"finish it with `tunesmith train --resume {run}`")
    kwargs = with_int_keys(manifest.get("model_kwargs") or {})
    kind = folder_model_kind(folder)
    tokenizer = folder if (folder / "tokenizer_config.json").is_file() else config.model.name
    pad = _saved_pad_id(folder, kind)
    return SavedModel(ARTIFACT_FORMATS[folder.name], str(folder), kind, str(tokenizer), serving_for(kind, kwargs),
                      config.model.name, kwargs, pad, config.objective.name,
                      config.data.system_prompt, config.model.revision, config.model.trust_remote_code)


def _saved_pad_id(folder: Path, kind: str) -> int | None:
    """Old runs set a classifier's pad token from the tokenizer at every load."""
    if kind != "seq_cls":
        return None
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder) if (folder / "tokenizer_config.json").is_file() else None
    if tokenizer is None:
        return None
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def folder_model_kind(folder: Path) -> str:
    """The model class a saved folder needs, read from its own files (adapter_config.json or config.json)."""
    if (folder / "adapter_config.json").is_file():
        task = read_json(folder / "adapter_config.json").get("task_type")
        return PEFT_TASKS.get(task, "causal_lm")
    config = read_json(folder / "config.json")
    if config.get("is_encoder_decoder"):
        return "seq2seq"
    architecture = (config.get("architectures") or [""])[0]
    return "seq_cls" if architecture.endswith("ForSequenceClassification") else "causal_lm"


def weights_saved(run: Path, manifest: dict) -> bool:
    """Whether the run's trained weights are on disk (without loading anything)."""
    if manifest.get("model"):
        return Path(SavedModel.from_record(manifest["model"], run).weights).is_dir()
    return any((run / name).is_dir() for name in ARTIFACT_FORMATS)


def merged(model):
    """A model with its PEFT adapter folded into the base weights (a model without one is returned as is)."""
    from peft import PeftModel

    # safe_merge checks the merged weights for NaNs before replacing the originals.
    return model.merge_and_unload(safe_merge=True) if isinstance(model, PeftModel) else model


def load_run(run: Path, *, base: bool = False, log=print) -> LoadedRun:
    """A run's fine-tuned model (or with base=True, the untouched model it started from) and its tokenizer, in eval
    mode on the device the run's config asks for."""
    config, _ = open_run(run)
    saved = saved_model_of_run(run, log)
    if not base and not Path(saved.weights).is_dir():
        raise UserError(f"{run} has no trained weights yet (no {Path(saved.weights).name}/)",
                        hint=f"finish it with `tunesmith train --resume {run}`, or use the base model")
    hardware = detect(config.model.dtype, config.model.device, config.training.threads)
    if base:
        model = load_base_model(saved, hardware.dtype, config.training.seed).to(hardware.device).eval()
    else:
        model, _ = load_weights(saved, hardware.dtype, hardware.device)
    return LoadedRun(run, model, load_saved_tokenizer(saved), config, saved)
