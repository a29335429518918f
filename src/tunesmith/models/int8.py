"""Dynamic int8 weights for CPU inference: how `tunesmith export --quantize int8` quantizes and how it loads back."""

from __future__ import annotations

import warnings
from pathlib import Path

from tunesmith.models.resolve import MODEL_CLASSES

WEIGHTS = "model.int8.pt"


def quantize_int8(model):
    """Replace every nn.Linear with a dynamically quantized int8 one, in place."""
    import torch

    # torch.ao is deprecated in favour of torchao, but on this project's 2-core AVX2 CPU torchao's int8 path ran
    # about 2x slower than fp32 while torch.ao's fbgemm kernels ran 1.4-1.7x faster; keep it until that changes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def load_int8(folder: Path, kind: str = "causal_lm"):
    """A model from an int8 export folder: architecture from config.json, weights from model.int8.pt."""
    import torch
    import transformers
    from transformers import AutoConfig

    auto = getattr(transformers, MODEL_CLASSES[kind])
    model = quantize_int8(auto.from_config(AutoConfig.from_pretrained(folder), dtype=torch.float32).eval())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.load_state_dict(torch.load(Path(folder) / WEIGHTS, weights_only=True, map_location="cpu"))
    return model
