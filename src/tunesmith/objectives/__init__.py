"""Objectives decide what the model learns: each file registers how to prepare data and build the trainer."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from tunesmith.errors import UserError


@dataclass(frozen=True)
class Objective:
    name: str
    prepare_data: Callable  # (RunConfig, tokenizer) -> PreparedData
    build_trainer: Callable  # (model, tokenizer, PreparedData, trainer_args: dict, callbacks) -> transformers Trainer


OBJECTIVES: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
    OBJECTIVES[objective.name] = objective
    return objective


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        close = difflib.get_close_matches(name, list(OBJECTIVES), n=1)
        raise UserError(
            f"unknown objective.name '{name}'",
            hint=f"did you mean '{close[0]}'?" if close else f"available: {', '.join(sorted(OBJECTIVES))}",
        )
    return OBJECTIVES[name]


from tunesmith.objectives import sft  # noqa: E402,F401
