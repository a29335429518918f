"""Objectives decide what the model learns. Each file registers one or more Objective entries.

An objective names the data schema it needs, the kind of model it trains and the PEFT task type, and provides
`prepare_data(config, tokenizer) -> PreparedData` and `build_trainer(model, tokenizer, data, trainer_args,
callbacks, config) -> Trainer`. Optional: `model_kwargs(data)` for from_pretrained (num_labels...),
`check(config)` run before anything loads, `evaluate_test(trainer, data)` for the held-out split.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from tunesmith.errors import UserError


@dataclass(frozen=True)
class Objective:
    name: str
    schema: str  # chat, text, classification or preference (see tunesmith.data.formats)
    model_kind: str  # causal_lm, seq_cls or seq2seq
    task: str  # PEFT task type
    prepare_data: Callable
    build_trainer: Callable
    model_kwargs: Callable | None = None
    check: Callable | None = None
    evaluate_test: Callable | None = None


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


from tunesmith.objectives import causal_lm, classification, preference, reinforce, seq2seq, sft  # noqa: E402,F401
