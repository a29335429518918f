"""ONNX export of the merged model (input_ids, attention_mask → logits), checked with onnxruntime: decoders and
sequence classifiers (encoder or decoder), in float32 or with int8 weights (onnxruntime's dynamic quantization).

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
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **cache).logits

    cache = {"use_cache": False} if model.can_generate() else {}
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


def write_onnx_int8(model, tokenizer, folder: Path) -> None:
    """The float32 graph, then its MatMul weights as int8 (activations quantized per call): one model.onnx."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    staging = Path(folder) / "float32"
    staging.mkdir()
    write_onnx(model, tokenizer, staging)
    with quiet_exporter():
        quantize_dynamic(staging / ONNX_FILE, Path(folder) / ONNX_FILE, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm", "Gather"])
    for path in staging.iterdir():
        path.replace(Path(folder) / path.name) if path.suffix != ".data" and path.name != ONNX_FILE else path.unlink()
    staging.rmdir()


def onnx_session(folder: Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: it warns about every initializer it folds
    return onnxruntime.InferenceSession(str(Path(folder) / ONNX_FILE), options, providers=["CPUExecutionProvider"])


def onnx_logits(session, ids):
    """Logits of one unpadded row of token ids (a list or a (1, n) tensor)."""
    import numpy as np

    ids = np.asarray(ids, dtype=np.int64).reshape(1, -1)
    return session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones(ids.shape, dtype=np.int64)})[0]


def load_onnx(folder: Path):
    import torch

    from tunesmith.export.probes import flat

    session = onnx_session(folder)
    return lambda inputs: flat(torch.from_numpy(onnx_logits(session, inputs["input_ids"].numpy())))


def onnx_answerers(folder: Path, context) -> dict:
    """Classifiers run in onnxruntime on the test split (a decoder graph has no KV cache: greedy replies over a
    whole split would re-read every sequence at every step, so decoders are not scored: scored_kinds)."""
    from transformers import AutoConfig

    from tunesmith.objectives.classification import encode

    labels = AutoConfig.from_pretrained(folder).id2label
    limit = context.config.data.max_length

    def make():
        session = onnx_session(folder)

        def answer(texts: list[str]) -> list[str]:
            encoded = encode(context.tokenizer, texts, truncation=True, max_length=limit)
            return [labels[int(onnx_logits(session, ids)[0].argmax())] for ids in encoded]

        return answer

    return {"onnx": make}


USAGE = ("onnxruntime.InferenceSession(f'{folder}/model.onnx') with inputs input_ids and attention_mask "
         "(int64, batch x length); output logits. No KV cache: every step re-reads the whole sequence.")
register(ExportFormat(
    "onnx", write_onnx, None, merged=True, lossy=False, kinds=("causal_lm", "seq_cls"), load=load_onnx,
    answerers=onnx_answerers, scored_kinds=("seq_cls",), usage=USAGE,
))
register(ExportFormat(
    "onnx_int8", write_onnx_int8, None, merged=True, lossy=True, kinds=("causal_lm", "seq_cls"), load=load_onnx,
    answerers=onnx_answerers, scored_kinds=("seq_cls",),
    usage=USAGE + " Weights are int8 (onnxruntime dynamic quantization).",
))
