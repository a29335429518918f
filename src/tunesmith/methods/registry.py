"""The methods registry (see the package docstring)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from tunesmith.errors import UserError


@dataclass(frozen=True)
class Method:
    name: str
    apply: Callable  # (model, MethodConfig, task) -> trainable model
    artifact: str  # what a finished run saves: "adapter" (base stays untouched) or "model" (all weights)
    check: Callable | None = None  # (RunConfig, Hardware, the objective's PEFT task) -> None, raises UserError
    load_kwargs: Callable | None = None  # (RunConfig) -> dict for from_pretrained
    four_bit_base: bool = False  # the frozen base is stored in 4 bits (the memory plan counts it so)


METHODS: dict[str, Method] = {}


def register(name: str, artifact: str, check: Callable | None = None, load_kwargs: Callable | None = None,
             four_bit_base: bool = False):
    def add(apply: Callable) -> Callable:
        METHODS[name] = Method(name, apply, artifact, check, load_kwargs, four_bit_base)
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


def freeze_all(model) -> None:
    for parameter in model.parameters():
        parameter.requires_grad_(False)


# Importing the files registers them.
