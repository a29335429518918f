"""Methods make a loaded model trainable. Each file registers one method in METHODS."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from tunesmith.errors import UserError


@dataclass(frozen=True)
class Method:
    name: str
    apply: Callable  # (model, MethodConfig) -> trainable model
    artifact: str  # what a finished run saves: "adapter" (base stays untouched) or "model" (all weights)


METHODS: dict[str, Method] = {}


def register(name: str, artifact: str):
    def add(apply: Callable) -> Callable:
        METHODS[name] = Method(name, apply, artifact)
        return apply

    return add


def get_method(name: str) -> Method:
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS), n=1)
        raise UserError(
            f"unknown method.name '{name}'",
            hint=f"did you mean '{close[0]}'?" if close else f"available: {', '.join(sorted(METHODS))}",
        )
    return METHODS[name]


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


# Importing the files registers them.
from tunesmith.methods import full, lora  # noqa: E402,F401
