"""Turn a .gguf file into a cached safetensors model directory (transformers cannot save a gguf-loaded model)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from tunesmith.quiet import quiet_libraries


def tunesmith_home() -> Path:
    return Path(os.environ.get("TUNESMITH_HOME", Path.home() / ".cache" / "tunesmith"))


def cache_dir_for(gguf_path: Path) -> Path:
    """A cache folder keyed by the file's name, size and mtime (hashing 100 MB on every start would cost seconds)."""
    st = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:12]
    return tunesmith_home() / "models" / f"{gguf_path.stem}-{key}"


def convert_gguf(gguf_path: Path, log=print) -> Path:
    """Dequantize once to fp32 safetensors; later loads read the cache in under a second."""
    target = cache_dir_for(gguf_path)
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    quiet_libraries()
    log(f"converting {gguf_path.name} to safetensors in {target} (once; takes about half a minute)")
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    # A fresh model from the plain config carries no gguf quantization marker, so save_pretrained accepts it.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target) if not target.exists() else shutil.rmtree(tmp)
    return target
