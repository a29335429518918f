"""ONNX export of the merged model (input_ids, attention_mask → logits), checked with onnxruntime.

optimum's exporter now lives in optimum-onnx, which pins transformers<4.58; torch.onnx's own (dynamo) exporter
handles these models directly, so that is what this uses.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.export.formats import ExportFormat, register, save_config_and_tokenizer

ONNX_FILE = "model.onnx"


def require_onnx() -> None:
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"--format onnx needs {', '.join(missing)}, which is not installed",
                        hint="pip install 'tunesmith[onnx]'")


def logits_only(model):
    """A module whose forward takes plain tensors and returns only logits: the graph ONNX can hold."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    return LogitsOnly().eval()


@contextmanager
def quiet_exporter():
    """The exporter logs every optional op it skips (torchvision's) and internal deprecations; none concern users."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_onnx(model, tokenizer, folder: Path) -> None:
    import torch

    require_onnx()
    model = model.to("cpu").eval()
    # Batch and length 2+: torch.export specialises dimensions of size 1, which would fix them in the graph.
    example = torch.full((2, 8), tokenizer.pad_token_id or 0, dtype=torch.long)
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
    with quiet_exporter():
        program = torch.onnx.export(
            logits_only(model), (example, torch.ones_like(example)), dynamo=True, verbose=False,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_shapes={"input_ids": dims, "attention_mask": dims},
        )
        program.save(str(folder / ONNX_FILE), external_data=True)  # weights beside the graph: no 2 GB proto limit
    save_config_and_tokenizer(model, tokenizer, folder)


def load_onnx(folder: Path):
    import numpy as np
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(Path(folder) / ONNX_FILE), providers=["CPUExecutionProvider"])

    def forward(inputs: dict):
        ids = inputs["input_ids"].numpy().astype(np.int64)
        logits = session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones(ids.shape, dtype=np.int64)})[0]
        return torch.from_numpy(logits[0]).float()

    return forward


register(ExportFormat(
    "onnx", write_onnx, None, merged=True, lossy=False, kinds=("causal_lm",), load=load_onnx,
    usage=("onnxruntime.InferenceSession(f'{folder}/model.onnx') with inputs input_ids and attention_mask "
           "(int64, batch x length); output logits. No KV cache: every step re-reads the whole sequence."),
))
