"""Dynamic int8 quantization for CPU inference: Linear weights stored as int8, activations quantized per batch."""

from __future__ import annotations

import warnings
from pathlib import Path

from tunesmith.export.formats import FORMATS, ExportFormat, register, save_config_and_tokenizer
from tunesmith.export.task_check import torch_folder_answerers
from tunesmith.models.int8 import WEIGHTS, quantize_int8


def write_int8(model, tokenizer, folder: Path) -> None:
    import torch

    save_config_and_tokenizer(model, tokenizer, folder)
    quantized = quantize_int8(model.to("cpu").float().eval())  # the int8 kernels (fbgemm/onednn) are CPU-only
    # Packed int8 weights are not plain tensors, so safetensors cannot hold them; torch.load(weights_only=True)
    # still reads them without running pickled code.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation inside torch's own quantized-tensor pickling
        torch.save(quantized.state_dict(), folder / WEIGHTS)


register(ExportFormat(
    "int8", write_int8, "int8", merged=True, lossy=True,
    answerers=lambda folder, context: torch_folder_answerers(folder, context, FORMATS["int8"]),
    usage=("model = {auto}.from_config(AutoConfig.from_pretrained(folder)); "
           "torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True); "
           f"model.load_state_dict(torch.load(f'{{folder}}/{WEIGHTS}', weights_only=True)); "
           "or `tunesmith serve folder`"),
))
