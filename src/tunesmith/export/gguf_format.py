"""The gguf and ollama export formats: one GGUF file per asked type, each loaded back in llama.cpp and compared
with the run's model; ollama adds a Modelfile (export/ollama.py).

Judging: the f16 file must predict the run's next token at >= F16_AGREEMENT of the probe positions (f16 weights
and llama.cpp's kernels differ from PyTorch's float32 only by rounding); a quantized file at >= --min-agreement.
Without llama-cpp-python the files are written and the check is recorded as skipped, with the reason.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.export.formats import ExportFormat, register
from tunesmith.export.gguf import REFERENCE_TYPE, gguf_file, write_gguf
from tunesmith.export.probes import Agreement, compare

F16_AGREEMENT = 0.99


def runtime_missing() -> str | None:
    """Why llama.cpp cannot check the files here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'tunesmith[gguf]' builds it)"
    return None


def write_files(model, tokenizer, folder: Path, types: list[str], with_modelfile: bool, system_prompt) -> None:
    name = Path(folder).name.split(".partial-")[0].lstrip(".")
    write_gguf(model, tokenizer, folder, types, name, log=lambda line: None)
    tokenizer.save_pretrained(folder)  # for `tunesmith serve` and transformers; the files hold their own copy
    if with_modelfile:
        from tunesmith.export.ollama import write_modelfile

        write_modelfile(folder, tokenizer, gguf_file(folder, types[-1]).name, system_prompt)


def check_files(probes: list, folder: Path, types: list[str], min_agreement: float | None, tokenizer) -> dict:
    """{"files": {type: agreement record}} for each file, judged, and llama.cpp's tokenization of the probe texts;
    or the reason the check was skipped."""
    from tunesmith.export.gguf_runtime import gguf_forward

    missing = runtime_missing()
    if missing:
        return {"skipped": missing}
    same_tokens = check_tokenizer(gguf_file(folder, REFERENCE_TYPE), tokenizer, probes)
    results = {}
    for qtype in types:
        forward = gguf_forward(gguf_file(folder, qtype))
        try:
            agreement = compare(probes, forward)
        finally:
            forward.close()
        judge_file(qtype, agreement, min_agreement)
        results[qtype] = {**agreement.as_dict(), "required": required_agreement(qtype, min_agreement),
                          "bytes": gguf_file(folder, qtype).stat().st_size}
    return {"files": results, "tokenizer_agreement": same_tokens}


def check_tokenizer(path: Path, tokenizer, probes: list) -> float:
    """Share of probe texts llama.cpp tokenizes exactly like the run's tokenizer; anything less fails."""
    from tunesmith.export.gguf_runtime import open_gguf, tokenizer_agreement

    texts = [tokenizer.decode(p.inputs["input_ids"][0].tolist()) for p in probes]
    llm = open_gguf(path, context=64)
    try:
        share = tokenizer_agreement(llm, tokenizer, texts)
    finally:
        llm.close()
    if share < 1.0:
        raise UserError(f"llama.cpp tokenizes {1 - share:.0%} of the probe texts differently from the run's tokenizer; "
                        "nothing was written", hint="this tokenizer's pre-tokenizer is not one llama.cpp reproduces; "
                        "export it as safetensors and convert with llama.cpp's convert_hf_to_gguf.py")
    return share


def required_agreement(qtype: str, min_agreement: float | None) -> float:
    """f16/f32 must match; a quantized file only reports its agreement unless --min-agreement asks for more (its
    task metric on the test split says what it kept)."""
    return F16_AGREEMENT if qtype in (REFERENCE_TYPE, "f32") else min_agreement or 0.0


def judge_file(qtype: str, agreement: Agreement, min_agreement: float | None) -> None:
    need = required_agreement(qtype, min_agreement)
    if agreement.top1_agreement < need:
        hint = ("the tensor layout or tokenizer does not match llama.cpp's; please report it with the model's "
                "config.json" if qtype == REFERENCE_TYPE else
                "this model loses too much at this type; use a larger type (q8_0, q5_k_m) or lower --min-agreement")
        raise UserError(f"model-{qtype}.gguf in llama.cpp predicts the run's next token at only "
                        f"{agreement.top1_agreement:.1%} of {agreement.positions} probe positions (need {need:.0%}); "
                        "nothing was written", hint=hint)


def gguf_format(name: str, types: list[str], system_prompt: str | None) -> ExportFormat:
    """The registered format with this export's types bound into its writer."""
    write = functools.partial(write_files, types=types, with_modelfile=name == "ollama", system_prompt=system_prompt)
    answerers = functools.partial(gguf_answerers, types=types)
    return dataclasses.replace(FORMATS_BY_NAME[name], write=write, answerers=answerers)


def gguf_answerers(folder: Path, context, types: list[str]) -> dict:
    """One llama.cpp answerer per file (generation only: GGUF holds decoders)."""
    from tunesmith.export.task_check import gguf_answerer

    if runtime_missing():
        return {}
    return {qtype: functools.partial(gguf_answerer, gguf_file(folder, qtype), context.tokenizer, context.config)
            for qtype in types}


def _not_single(*_args):
    raise UserError("a GGUF export is checked file by file (check_files)")


FORMATS_BY_NAME = {
    fmt.name: register(fmt) for fmt in (
        ExportFormat("gguf", _not_single, None, merged=True, lossy=True, kinds=("causal_lm",), load=_not_single,
                     usage="llama.cpp: `llama-cli -m model-TYPE.gguf` (a file of this folder); llama-cpp-python: "
                           "`Llama('model-TYPE.gguf')`; LM Studio: import the file"),
        ExportFormat("ollama", _not_single, None, merged=True, lossy=True, kinds=("causal_lm",), load=_not_single,
                     usage="`ollama create NAME -f Modelfile` in this folder, then `ollama run NAME`"),
    )
}

