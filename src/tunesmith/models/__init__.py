"""Choose a model: resolve aliases, local folders, .gguf files and Hub ids; load what a run saved (saved.py)."""

from tunesmith.models.bundled import BUNDLED, DEFAULT_CAUSAL_LM, locate
from tunesmith.models.resolve import (
    ModelSource,
    check_model_kind,
    context_length,
    load_causal_lm,
    load_model,
    load_tokenizer,
    resolve_model,
)

__all__ = [
    "BUNDLED", "DEFAULT_CAUSAL_LM", "locate",
    "ModelSource", "check_model_kind", "context_length", "load_causal_lm", "load_model", "load_tokenizer",
    "resolve_model",
]
