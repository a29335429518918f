"""GGUF files for llama.cpp / Ollama / LM Studio: a merged decoder's weights, tokenizer and metadata.

The file is written with the `gguf` package (the reference writer maintained with llama.cpp). Weights in f32,
f16 or the block types gguf can quantize in Python (q8_0, q4_0, q4_1, q5_0, q5_1); the k-quants (q4_k_m...) come
from llama.cpp's own quantizer through llama-cpp-python, run on the f16 file.

Supported architectures are listed in ARCHITECTURES; anything else is refused before loading (exit 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunesmith.data.tokenize import adds_bos
from tunesmith.errors import UserError


@dataclass(frozen=True)
class Architecture:
    gguf_name: str  # general.architecture in the file
    rotary_pairs_interleaved: bool  # llama.cpp's llama rope pairs (2i, 2i+1); HF's rotate_half pairs (i, i+d/2)


ARCHITECTURES = {
    "LlamaForCausalLM": Architecture("llama", True),  # Llama 1-3, SmolLM/SmolLM2, TinyLlama
    "MistralForCausalLM": Architecture("llama", True),
    "Qwen2ForCausalLM": Architecture("qwen2", False),  # qwen2's rope is NeoX-style: HF's layout as is
}

PYTHON_TYPES = ("f32", "f16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1")  # written by the gguf package
LLAMA_CPP_TYPES = ("q2_k", "q3_k_m", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k")  # need llama-cpp-python
GGUF_TYPES = PYTHON_TYPES + LLAMA_CPP_TYPES
REFERENCE_TYPE = "f16"  # always written first: the parity anchor the quantized files are made from


def gguf_file(folder: Path, qtype: str) -> Path:
    return Path(folder) / f"model-{qtype}.gguf"


def architecture_of(config) -> Architecture:
    """The GGUF architecture of a transformers config, or a clear refusal."""
    names = list(getattr(config, "architectures", None) or [])
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    raise UserError(f"GGUF export supports {', '.join(ARCHITECTURES)}; this model is {', '.join(names) or 'unknown'}",
                    hint="export it as safetensors and convert with llama.cpp's convert_hf_to_gguf.py")


def rope_parameters(config) -> dict:
    """transformers 5 keeps rope_theta and the scaling in config.rope_parameters; older configs at the top."""
    given = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    return {"rope_theta": getattr(config, "rope_theta", None) or 10000.0, **given}


def check_rope(config) -> None:
    scaling = rope_parameters(config)
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind not in ("default", None):
        raise UserError(f"GGUF export does not write rope scaling {kind!r} yet (this model's config.rope_scaling)",
                        hint="export it as safetensors and convert with llama.cpp's convert_hf_to_gguf.py")


def parse_types(quantize: str) -> list[str]:
    """--quantize f16,q8_0,q4_k_m → the file types, f16 first (checked against the run, then quantized from)."""
    asked = [t.strip().lower() for t in quantize.split(",") if t.strip() and t.strip().lower() != "none"]
    unknown = [t for t in asked if t not in GGUF_TYPES]
    if unknown:
        raise UserError(f"unknown GGUF type {', '.join(unknown)}", hint=f"use any of {', '.join(GGUF_TYPES)}")
    return list(dict.fromkeys([REFERENCE_TYPE, *asked]))


# ---- tensors -------------------------------------------------------------------------------------------------

def interleave_rotary(weight, heads: int):
    """Rows of a q/k projection (or its bias) from HF's half-split rotary layout to llama.cpp's interleaved one: per
    head, output dims (0..d/2-1, d/2..d-1) become pairs (0, d/2), (1, d/2+1), ..."""
    rows = weight.shape[0]
    rest = weight.shape[1:]
    return weight.reshape(heads, 2, rows // heads // 2, *rest).swapaxes(1, 2).reshape(rows, *rest)


def gguf_tensors(model, arch: Architecture):
    """(gguf name, float32 numpy array) for every tensor llama.cpp reads; a tied output head is left out (llama.cpp
    reuses token_embd)."""
    import gguf

    config = model.config
    model_arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch.gguf_name]
    names = gguf.get_tensor_name_map(model_arch, config.num_hidden_layers)
    tied = getattr(config, "tie_word_embeddings", False)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and tied:
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"GGUF export has no llama.cpp name for tensor {hf_name!r}",
                            hint="export it as safetensors and convert with llama.cpp's convert_hf_to_gguf.py")
        array = tensor.detach().float().cpu().numpy()
        if arch.rotary_pairs_interleaved and hf_name.endswith(("q_proj.weight", "k_proj.weight", "q_proj.bias",
                                                                "k_proj.bias")):
            heads = config.num_attention_heads if "q_proj" in hf_name else config.num_key_value_heads
            array = interleave_rotary(array, heads)
        yield name, array


def encode_tensor(array, qtype: str):
    """(data, raw ggml type or None) for one tensor: vectors stay f32 (norms, biases); a matrix whose rows do not
    fill whole quantization blocks falls back to f16."""
    import gguf
    import numpy as np

    if array.ndim == 1 or qtype == "f32":
        return array.astype(np.float32), None
    if qtype == "f16":
        return array.astype(np.float16), None
    kind = gguf.GGMLQuantizationType[qtype.upper()]
    block = gguf.GGML_QUANT_SIZES[kind][0]
    if array.shape[-1] % block:
        return array.astype(np.float16), None
    return gguf.quants.quantize(array, kind), kind


# ---- metadata ------------------------------------------------------------------------------------------------

def add_hyperparameters(writer, config, qtype: str) -> None:
    import gguf

    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or heads)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_rope_freq_base(float(rope_parameters(config)["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType[f"MOSTLY_{qtype.upper()}" if qtype != "f32" else "ALL_F32"])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


# How tokenizer.json splits text before BPE → llama.cpp's name for the same pre-tokenizer.
PRE_TOKENIZERS = {
    "ByteLevel": "gpt-2",
    "Digits+ByteLevel": "smollm",  # each digit alone, then GPT-2's regex (SmolLM, StarCoder)
}
# A Split by one of these regexes, then ByteLevel without its own regex (the patterns as tokenizer.json writes them).
SPLIT_PATTERNS = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "llama-bpe",  # Llama 3
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "qwen2",
}


def pre_tokenizer_name(spec: dict | None) -> str:
    """llama.cpp's pre-tokenizer for a tokenizer.json pre_tokenizer, or a refusal; the export check then compares
    llama.cpp's tokens with the run's on the probe texts."""
    if spec is None:
        return "gpt-2"
    steps = spec.get("pretokenizers", [spec]) if spec.get("type") == "Sequence" else [spec]
    key = "+".join(step["type"] for step in steps)
    if key == "Split+ByteLevel" and not steps[1].get("use_regex", True):
        pattern = steps[0].get("pattern", {}).get("Regex")
        if pattern in SPLIT_PATTERNS:
            return SPLIT_PATTERNS[pattern]
    digits_alone = all(step.get("individual_digits", True) for step in steps if step["type"] == "Digits")
    regex = all(step.get("use_regex", True) for step in steps if step["type"] == "ByteLevel")
    if key in PRE_TOKENIZERS and digits_alone and regex:
        return PRE_TOKENIZERS[key]
    raise UserError(f"GGUF export knows no llama.cpp pre-tokenizer for this tokenizer's ({key})",
                    hint="export it as safetensors and convert with llama.cpp's convert_hf_to_gguf.py")


def add_tokenizer(writer, tokenizer, vocab_size: int) -> None:
    """A byte-level BPE tokenizer as llama.cpp's "gpt2" model: tokens by id, their types, merges, special ids and
    the chat template."""
    import gguf

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec["model"]["type"] != "BPE" or spec["model"].get("byte_fallback"):
        fallback = " with byte fallback (SentencePiece style)" if spec["model"].get("byte_fallback") else ""
        raise UserError("GGUF export writes byte-level BPE tokenizers (GPT-2 style); this one is "
                        f"{spec['model']['type']}{fallback}",
                        hint="export it as safetensors and convert with llama.cpp's convert_hf_to_gguf.py")
    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    special = set(tokenizer.all_special_ids) | {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    added = {t["id"] for t in spec.get("added_tokens", [])}
    tokens, types = [], []
    for i in range(vocab_size):  # rows past the tokenizer (padding the embedding) get unused placeholders
        tokens.append(by_id.get(i, f"[PAD{i}]"))
        types.append(gguf.TokenType.UNUSED if i not in by_id else gguf.TokenType.CONTROL if i in special
                     else gguf.TokenType.USER_DEFINED if i in added else gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer_name(spec.get("pre_tokenizer")))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]])
    add_special_ids(writer, tokenizer)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def add_special_ids(writer, tokenizer) -> None:
    eos = tokenizer.eos_token_id
    for value, add in ((tokenizer.bos_token_id, writer.add_bos_token_id), (eos, writer.add_eos_token_id),
                       (tokenizer.pad_token_id, writer.add_pad_token_id), (tokenizer.unk_token_id,
                                                                           writer.add_unk_token_id)):
        if value is not None:
            add(value)
    writer.add_add_bos_token(adds_bos(tokenizer))  # what the HF tokenizer does for plain text


# ---- files ---------------------------------------------------------------------------------------------------

def write_gguf_file(model, tokenizer, path: Path, qtype: str, name: str) -> None:
    """One GGUF file of `model` (merged, in memory) in one of PYTHON_TYPES."""
    import gguf

    arch = architecture_of(model.config)
    check_rope(model.config)
    writer = gguf.GGUFWriter(str(path), arch.gguf_name)
    writer.add_name(name)
    add_hyperparameters(writer, model.config, qtype)
    add_tokenizer(writer, tokenizer, model.config.vocab_size)
    for tensor_name, array in gguf_tensors(model, arch):
        data, raw = encode_tensor(array, qtype)
        writer.add_tensor(tensor_name, data, raw_dtype=raw)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize_with_llama_cpp(source: Path, target: Path, qtype: str) -> None:
    """llama.cpp's quantizer (the k-quants' importance-weighted mixes) on the f16 file."""
    import os

    llama_cpp = require_llama_cpp(f"--quantize {qtype}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}")
    params.nthread = os.cpu_count() or 1
    mute_llama_cpp()
    failed = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if failed:
        raise UserError(f"llama.cpp could not quantize {source.name} to {qtype} (code {failed})")


def require_llama_cpp(purpose: str):
    try:
        import llama_cpp
    except ImportError as error:
        raise UserError(f"{purpose} needs llama-cpp-python, which is not installed ({error})",
                        hint="pip install 'tunesmith[gguf]' (builds llama.cpp for this CPU, a few minutes)") from None
    return llama_cpp


_LOG_CALLBACK = []  # llama.cpp keeps a pointer to the callback: it must live as long as the process


def mute_llama_cpp() -> None:
    """llama.cpp logs every tensor it loads or quantizes to stderr; keep only its errors (installed once)."""
    import sys

    import llama_cpp

    if _LOG_CALLBACK:
        return

    @llama_cpp.llama_log_callback
    def errors_only(level, text, data):
        if level == 4:  # GGML_LOG_LEVEL_ERROR
            sys.stderr.write(text.decode(errors="replace"))

    _LOG_CALLBACK.append(errors_only)
    llama_cpp.llama_log_set(errors_only, None)


def write_gguf(model, tokenizer, folder: Path, types: list[str], name: str, log=print) -> dict[str, Path]:
    """Every asked type into `folder`: the f16 reference from the model, then the others (Python or llama.cpp)."""
    files = {}
    for qtype in types:
        path = gguf_file(folder, qtype)
        log(f"writing {path.name}")
        if qtype in PYTHON_TYPES:
            write_gguf_file(model, tokenizer, path, qtype, name)
        else:
            quantize_with_llama_cpp(files[REFERENCE_TYPE], path, qtype)
        files[qtype] = path
    return files
