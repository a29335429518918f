"""Choose a model: resolve aliases, local folders, .gguf files and Hub ids; plan memory."""

from tunesmith.models.bundled import BUNDLED, DEFAULT_CAUSAL_LM, locate
from tunesmith.models.memory import MemoryPlan, plan_memory
from tunesmith.models.resolve import ModelSource, check_model_kind, load_causal_lm, load_model, load_tokenizer, resolve_model

__all__ = [
    "BUNDLED", "DEFAULT_CAUSAL_LM", "locate", "MemoryPlan", "plan_memory",
    "ModelSource", "check_model_kind", "load_causal_lm", "load_model", "load_tokenizer", "resolve_model",
]
