"""Export formats: how each one writes its folder and how that folder is loaded back for the output check.

Each format registers itself in FORMATS; `int8` lives in quantize.py and `onnx` in onnx.py (export/__init__.py
imports them).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tunesmith.export.probes import torch_forward
from tunesmith.models.saved import SavedModel, load_weights


@dataclass(frozen=True)
class ExportFormat:
    name: str
    write: Callable  # (model, tokenizer, folder) -> None; may consume the model (merging, quantizing in place)
    holds: str | None  # the SavedModel format of the folder (full, adapter, int8), loaded back to check it;
    # None: `load` reads it instead (onnx)
    merged: bool  # write receives the run's model with its adapter merged in
    lossy: bool  # judged by next-token agreement instead of the logit tolerance
    usage: str  # how to load the folder, for the model card; {auto} becomes the Auto class of the model kind
    kinds: tuple[str, ...] = ("causal_lm", "seq_cls", "seq2seq")  # model kinds it can hold
    load: Callable | None = None  # (folder) -> forward(inputs) -> logits, for a folder no SavedModel describes
    # (folder, AnswerContext) -> {label: answer(items) -> outputs}: the export run on the test split
    # (export/task_check.py); None: exact formats, which the logit check covers
    answerers: Callable | None = None
    scored_kinds: tuple[str, ...] = ("causal_lm", "seq_cls")  # model kinds its answerers can score

    def saved(self, run_model: SavedModel, folder: Path) -> SavedModel | None:
        """What the written folder holds: the run's SavedModel with this format's weights and tokenizer."""
        if self.holds is None:
            return None
        return dataclasses.replace(run_model, format=self.holds, weights=str(folder), tokenizer=str(folder))

    def reader(self, run_model: SavedModel, folder: Path, dtype: str) -> Callable:
        """forward(inputs) -> logits of the folder as written, loaded the way `tunesmith serve` loads it."""
        if self.holds is None:
            return self.load(folder)
        return torch_forward(load_weights(self.saved(run_model, folder), dtype, "cpu")[0])


FORMATS: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> ExportFormat:
    FORMATS[fmt.name] = fmt
    return fmt


def export_generation_config(model, tokenizer):
    """The model's generation config, made to stop at the chat template's end-of-turn token and pad with `pad`."""
    config = copy.deepcopy(model.generation_config)
    eos = config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    # Chat models end a reply with the template's end-of-turn token; without it plain `generate` runs to the limit.
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
        eos.append(tokenizer.eos_token_id)
    config.eos_token_id = eos[0] if len(eos) == 1 else eos
    config.pad_token_id = tokenizer.pad_token_id
    return config


def save_config_and_tokenizer(model, tokenizer, folder: Path) -> None:
    """config.json, generation_config.json (models that generate) and the tokenizer with its chat template."""
    model.config.save_pretrained(folder)
    if model.can_generate():
        export_generation_config(model, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def write_merged(model, tokenizer, folder: Path) -> None:
    model.save_pretrained(folder)  # safetensors by default
    save_config_and_tokenizer(model, tokenizer, folder)


def write_adapter(model, tokenizer, folder: Path) -> None:
    # PEFT writes adapter_config.json naming the base it was trained on, so peft/transformers find it by themselves.
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


register(ExportFormat(
    "safetensors", write_merged, "full", merged=True, lossy=False,
    usage="{auto}.from_pretrained(folder) and AutoTokenizer.from_pretrained(folder)",
))
register(ExportFormat(
    "adapter", write_adapter, "adapter", merged=False, lossy=False,
    usage="peft.PeftModel.from_pretrained({auto}.from_pretrained(base), folder), where base is the "
          "base_model_name_or_path in adapter_config.json",
))
