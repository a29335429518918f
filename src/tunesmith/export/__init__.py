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
from tunesmith.export import gguf_format
from tunesmith.export.gguf import gguf_file, parse_types
from tunesmith.errors import UserError
from tunesmith.export.card import model_card
from tunesmith.export.formats import FORMATS, ExportFormat
from tunesmith.export.probes import Agreement, compare, make_probes, probe_inputs
from tunesmith.export.stage import check_target, staged_folder
from tunesmith.export.task_check import AnswerContext, reference_of, run_task_check, task_kind, test_examples
from tunesmith.models import resolve_model
from tunesmith.models.saved import load_run, merged, saved_model_of_run
from tunesmith.runs import write_json

EXPORT_INFO = "tunesmith_export.json"  # read back by `tunesmith serve`: format, base, system prompt, check
DEFAULT_MIN_AGREEMENT = 0.9


@dataclass
class ExportResult:
    folder: Path
    format: str
    agreement: Agreement | None  # None for GGUF exports, checked file by file (check)
    check: dict


def default_tolerance(dtype: str) -> float:
    """Largest |logit difference| an exact format may show: merging re-rounds every adapted weight once."""
    return 1e-3 if dtype == "float32" else 5e-2


GGUF_FORMATS = ("gguf", "ollama")


def gguf_types(fmt: str, quantize: str) -> list[str] | None:
    """The GGUF file types of a gguf/ollama export (f16 first); None for the other formats."""
    return parse_types(quantize) if fmt in GGUF_FORMATS else None


def choose_format(adapter_only: bool, fmt: str, quantize: str) -> ExportFormat:
    if fmt not in FORMATS or fmt in ("adapter", "int8", "onnx_int8"):
        raise UserError(f"unknown --format {fmt!r}", hint="use safetensors (default), onnx, gguf or ollama")
    if adapter_only and (fmt != "safetensors" or quantize != "none"):
        raise UserError("--adapter-only keeps the adapter as trained; it cannot be combined with --format/--quantize")
    if fmt in GGUF_FORMATS:
        return FORMATS[fmt]
    if quantize not in ("none", "int8"):
        raise UserError(f"unknown --quantize {quantize!r} for --format {fmt}",
                        hint="use int8 (dynamic, CPU) or none; the GGUF types (q8_0, q4_k_m...) go with --format gguf")
    if quantize == "int8":
        return FORMATS["onnx_int8" if fmt == "onnx" else "int8"]
    return FORMATS["adapter" if adapter_only else fmt]


def judge(agreement: Agreement, fmt: ExportFormat, tolerance: float, min_agreement: float | None) -> None:
    """Raise unless the exported model reproduces the run's outputs closely enough."""
    min_agreement = DEFAULT_MIN_AGREEMENT if min_agreement is None else min_agreement
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
               min_agreement: float | None = None, task_check: bool = True, log=print) -> ExportResult:
    """Write `run`'s model to `target` in the chosen format, after checking its outputs match the run's."""
    export_format, types = choose_format(adapter_only, fmt, quantize), gguf_types(fmt, quantize)
    check_target(target, force, run)  # before minutes of loading, not after
    kind = saved_model_of_run(run, log).model_kind
    if kind not in export_format.kinds:
        raise UserError(f"the {export_format.name} format holds {' or '.join(export_format.kinds)} models; "
                        f"{run} is {kind}", hint="export it as safetensors (the default) or onnx")
    loaded = load_run(run, log=log)
    model, tokenizer, config = loaded.model, loaded.tokenizer, loaded.config
    check_mergeable(model, export_format, run, config)
    if types:
        export_format = gguf_format.gguf_format(fmt, types, loaded.saved.system_prompt)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    tolerance = default_tolerance(dtype) if tolerance is None else tolerance
    items = probe_inputs(run, config)
    log(f"computing reference outputs on {len(items)} probe inputs")
    probes = make_probes(model, tokenizer, items, kind)  # the unmerged model: the check covers the merge
    model = merged(model) if export_format.merged else model
    reference, skipped = task_reference(kind, export_format, model, loaded, task_check, log)
    with staged_folder(target, force, run) as folder:
        log(f"writing {export_format.name} export")
        started = time.perf_counter()
        export_format.write(model, tokenizer, folder)
        del model  # the write may have consumed it; the check loads what is on disk
        check, agreement = output_check(export_format, types, probes, folder, loaded, dtype, tolerance, min_agreement)
        check["seconds"] = time.perf_counter() - started  # writing and the output check
        if reference is not None or skipped:
            check["task"] = task_result(reference, skipped, export_format, folder, loaded, dtype, check, log)
        info = export_info(run, target, folder, loaded, export_format, dtype, check)
        if types:  # what `tunesmith serve FOLDER` and the Modelfile load: the last type asked for
            info.update(gguf_types=types, serve_file=gguf_file(folder, types[-1]).name)
        write_json(folder / EXPORT_INFO, info)
        (folder / "README.md").write_text(model_card(run, config, info, export_format.usage))
    log(f"exported to {target}: {check_line(check, agreement)}")
    return ExportResult(Path(target), export_format.name, agreement, check)


def output_check(export_format: ExportFormat, types, probes, folder: Path, loaded, dtype: str, tolerance: float,
                 min_agreement: float | None) -> tuple[dict, Agreement | None]:
    """The written export against the run's probe outputs, judged: (record, agreement; None for GGUF files)."""
    if types:
        return gguf_format.check_files(probes, folder, types, min_agreement, loaded.tokenizer), None
    agreement = compare(probes, export_format.reader(loaded.saved, folder, dtype))
    judge(agreement, export_format, tolerance, min_agreement)
    limit = DEFAULT_MIN_AGREEMENT if min_agreement is None else min_agreement
    return {**agreement.as_dict(), "tolerance": tolerance, "min_agreement": limit}, agreement


def task_result(reference, skipped: str | None, export_format: ExportFormat, folder: Path, loaded, dtype: str,
                check: dict, log) -> dict:
    """The export scored on the run's test split, or why it was not."""
    if reference is None:
        return {"skipped": skipped}
    context = AnswerContext(loaded.saved, dtype, loaded.tokenizer, loaded.config, reference.kind)
    answerers = export_format.answerers(folder, context)
    if not answerers:
        return {"skipped": check.get("skipped", "no runtime here to score this export with")}
    return run_task_check(reference, answerers, loaded.tokenizer, log)


def task_reference(kind: str, export_format: ExportFormat, model, loaded, enabled: bool, log):
    """(the run's model, merged as the export will be, on its test split; None) before a lossy export is written;
    (None, why not) otherwise; (None, None) for exact formats, which the logit check covers."""
    if export_format.answerers is None:
        return None, None
    if not enabled:
        return None, "--no-task-check"
    if kind not in export_format.scored_kinds:
        return None, f"the {export_format.name} format's {kind} models are not scored on the test split here"
    examples = test_examples(loaded.config, loaded.tokenizer)
    task = task_kind(kind, examples)
    if task is None:
        return None, "the run's data has no test split this check can score (data.test or data.test_size)"
    log(f"task check: the run's model on {len(examples)} test examples")
    return reference_of(model, loaded.tokenizer, loaded.config, examples, task), None


def check_line(check: dict, agreement: Agreement | None) -> str:
    if agreement is not None:
        return (f"max |logit difference| {agreement.max_abs_diff:.3g}, same prediction at "
                f"{agreement.top1_agreement:.1%} of {agreement.positions} probe positions")
    if "skipped" in check:
        return f"files written, llama.cpp check skipped: {check['skipped']}"
    return "; ".join(f"{qtype} {c['bytes'] / 1e6:.0f} MB, same next token as the run at {c['top1_agreement']:.1%}"
                     for qtype, c in check["files"].items())


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
