"""Methods make a loaded model trainable. Each file registers one or more methods in METHODS.

A method is `apply(model, MethodConfig, task) -> model`, where task is the PEFT task type of the objective
("CAUSAL_LM", "SEQ_CLS", "SEQ_2_SEQ_LM"); `check(config, hardware)` runs before any weights load, so an
impossible combination fails in the first second; `load_kwargs(config)` adds from_pretrained arguments
(quantization for QLoRA).
"""

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
    check: Callable | None = None  # (RunConfig, Hardware) -> None, raises UserError
    load_kwargs: Callable | None = None  # (RunConfig) -> dict for from_pretrained


METHODS: dict[str, Method] = {}


def register(name: str, artifact: str, check: Callable | None = None, load_kwargs: Callable | None = None):
    def add(apply: Callable) -> Callable:
        METHODS[name] = Method(name, apply, artifact, check, load_kwargs)
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


HEAD_NAMES = ("score", "classifier", "lm_head")


def task_head(model):
    """(name, module) of the output head: a classification head if the model has one, else the LM head."""
    for name in HEAD_NAMES:
        module = getattr(model, name, None)
        if module is not None:
            return name, module
    raise UserError(f"cannot find the output head of {type(model).__name__} (looked for {', '.join(HEAD_NAMES)})")


def freeze_all(model) -> None:
    for parameter in model.parameters():
        parameter.requires_grad_(False)


# Importing the files registers them.
from tunesmith.methods import freeze, full, head, ia3, lora, prompt, qlora  # noqa: E402,F401
