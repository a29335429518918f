"""Export a run: merge its adapter, write a Hugging Face folder (or adapter / int8 / ONNX), check it, add a card.

Every export is loaded back from disk and compared with the run's unmerged model on probe prompts before it is
renamed into place; beyond the tolerance nothing is written and the command fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import tunesmith.export.onnx  # noqa: F401 (importing a format's file registers it)
import tunesmith.export.quantize  # noqa: F401
from tunesmith.errors import UserError
from tunesmith.export.card import model_card
from tunesmith.export.formats import FORMATS, ExportFormat, merge_adapter
from tunesmith.export.probes import Agreement, compare, make_probes, probe_inputs
from tunesmith.export.stage import check_target, staged_folder
from tunesmith.models import resolve_model
from tunesmith.models.saved import load_run, saved_model_of_run
from tunesmith.runs import write_json

EXPORT_INFO = "tunesmith_export.json"  # read back by `tunesmith serve`: format, base, system prompt, check
DEFAULT_MIN_AGREEMENT = 0.9


@dataclass
class ExportResult:
    folder: Path
    format: str
    agreement: Agreement


def default_tolerance(dtype: str) -> float:
    """Largest |logit difference| an exact format may show: merging re-rounds every adapted weight once."""
    return 1e-3 if dtype == "float32" else 5e-2


def choose_format(adapter_only: bool, fmt: str, quantize: str) -> ExportFormat:
    if quantize not in ("none", "int8"):
        raise UserError(f"unknown --quantize {quantize!r}", hint="use int8 (dynamic, CPU) or none")
    if fmt not in ("safetensors", "onnx"):
        raise UserError(f"unknown --format {fmt!r}", hint="use safetensors (default) or onnx")
    if adapter_only and (fmt != "safetensors" or quantize != "none"):
        raise UserError("--adapter-only keeps the adapter as trained; it cannot be combined with --format/--quantize")
    if quantize == "int8" and fmt == "onnx":
        raise UserError("--quantize int8 writes PyTorch int8 weights; it cannot be combined with --format onnx")
    return FORMATS["adapter" if adapter_only else "int8" if quantize == "int8" else fmt]


def judge(agreement: Agreement, fmt: ExportFormat, tolerance: float, min_agreement: float) -> None:
    """Raise unless the exported model reproduces the run's outputs closely enough."""
    if fmt.lossy and agreement.top1_agreement < min_agreement:
        raise UserError(
            f"the {fmt.name} export predicts the same next token as the run's model at only "
            f"{agreement.top1_agreement:.1%} of {agreement.positions} probe positions (need {min_agreement:.0%}; "
            f"max |logit difference| {agreement.max_abs_diff:.3g}); nothing was written",
            hint="this model loses too much to int8; export without --quantize, or lower --min-agreement",
        )
    if not fmt.lossy and agreement.max_abs_diff > tolerance:
        raise UserError(
            f"the exported model differs from the run's model: max |logit difference| {agreement.max_abs_diff:.3g} "
            f"> tolerance {tolerance:g} on {agreement.probes} probe prompts; nothing was written",
            hint="this points to a merge problem; --adapter-only keeps the adapter exact, --tolerance accepts more",
        )


def export_run(run: Path, target: Path, *, adapter_only: bool = False, fmt: str = "safetensors",
               quantize: str = "none", force: bool = False, tolerance: float | None = None,
               min_agreement: float = DEFAULT_MIN_AGREEMENT, log=print) -> ExportResult:
    """Write `run`'s model to `target` in the chosen format, after checking its outputs match the run's."""
    export_format = choose_format(adapter_only, fmt, quantize)
    check_target(target, force, run)  # before minutes of loading, not after
    kind = saved_model_of_run(run, log).model_kind
    if kind not in export_format.kinds:
        raise UserError(f"the {export_format.name} format holds {' or '.join(export_format.kinds)} models; "
                        f"{run} is {kind}", hint="export it as safetensors (the default)")
    loaded = load_run(run, log=log)
    model, tokenizer, config = loaded.model, loaded.tokenizer, loaded.config
    check_mergeable(model, export_format, run, config)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    tolerance = default_tolerance(dtype) if tolerance is None else tolerance
    items = probe_inputs(run, config)
    log(f"computing reference outputs on {len(items)} probe inputs")
    probes = make_probes(model, tokenizer, items, kind)
    with staged_folder(target, force, run) as folder:
        log(f"writing {export_format.name} export")
        export_format.write(merge_adapter(model) if export_format.merged else model, tokenizer, folder)
        del model  # the write may have consumed it; the check loads what is on disk
        agreement = compare(probes, export_format.reader(loaded.saved, folder, dtype))
        judge(agreement, export_format, tolerance, min_agreement)
        info = export_info(run, target, folder, loaded, export_format, dtype,
                           {**agreement.as_dict(), "tolerance": tolerance, "min_agreement": min_agreement})
        write_json(folder / EXPORT_INFO, info)
        (folder / "README.md").write_text(model_card(run, config, info, export_format.usage))
    log(f"exported to {target}: max |logit difference| {agreement.max_abs_diff:.3g}, "
        f"same prediction at {agreement.top1_agreement:.1%} of {agreement.positions} probe positions")
    return ExportResult(Path(target), export_format.name, agreement)


def check_mergeable(model, export_format: ExportFormat, run: Path, config) -> None:
    peft_config = getattr(model, "active_peft_config", None)
    if export_format.name == "adapter" and peft_config is None:
        raise UserError(f"{run} trained the model's own weights (method {config.method.name}); there is no adapter "
                        "to keep", hint="drop --adapter-only: the export is then the full model")
    if export_format.merged and peft_config is not None and peft_config.is_prompt_learning:
        raise UserError(f"method {config.method.name} learns virtual tokens, which cannot be merged into the weights",
                        hint="export with --adapter-only; peft loads it on top of the base model")


def export_info(run: Path, target: Path, folder: Path, loaded, export_format: ExportFormat, dtype: str,
                check: dict) -> dict:
    """tunesmith_export.json: what the folder holds (a SavedModel record, which `tunesmith serve` loads) and how it
    was checked."""
    saved, config = loaded.saved, loaded.config
    record, source = export_format.saved(saved, folder), resolve_model(config.model.name, log=lambda *_: None)
    return {
        "format": export_format.name, "model_kind": saved.model_kind, "model_kwargs": saved.model_kwargs,
        "model": record.as_record(folder) if record else None,
        "folder": str(target), "run": str(run.resolve()), "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
        "base_model": config.model.name, "base_path": source.path, "base_origin": source.origin,
        "system_prompt": saved.system_prompt, "dtype": dtype,
        "check": {**check, "lossy": export_format.lossy},
    }


__all__ = ["EXPORT_INFO", "ExportResult", "export_run", "FORMATS"]
