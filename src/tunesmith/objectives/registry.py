"""The objectives registry (see the package docstring)."""

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
    prepare_data: Callable  # (RunConfig, tokenizer) -> PreparedData
    build_trainer: Callable  # (model, tokenizer, PreparedData, trainer_args, callbacks, RunConfig) -> Trainer
    evaluation: str | Callable = "generation"  # generation, classification, language_modeling, preference, or
    # a function (pair, config, objective, data, split) -> (result, TaskOutputs) like those in evaluate/tasks.py
    serving: str | None = "generate"  # generate (chat/completions), classify, score (one output), None: not served
    model_kwargs: Callable | None = None  # (PreparedData) -> from_pretrained kwargs of a new head
    check: Callable | None = None  # (RunConfig) -> None, raises UserError before anything loads
    test_loss: bool = False  # the trainer also reports its own loss on the test split (see `trainer_on`)
    cross_entropy: bool = True  # the loss starts high and falls: the divergence guard may call it exploding
    padding_free: bool = False  # its trainer joins a batch into one row where fast.padding_free and the model allow
    sequences_per_example: int = 1  # sequences one example puts through the model (preference pairs: 2)
    replay: tuple[str, ...] = ()  # data.replay sources it can mix in: "file" (rows of its schema), "base"
    batch_size: int = 8  # training.batch_size when the config leaves it unset (the batch its rates are measured at)
    can_truncate: bool = False  # an example over data.max_length may keep its first tokens (data.too_long=truncate)
    best_metric: str = "eval_loss"  # the validation metric that picks the best checkpoint when the config leaves it unset

    def head_kwargs(self, data) -> dict:
        """from_pretrained arguments of the new head this objective adds for `data` ({} when it adds none)."""
        return self.model_kwargs(data) if self.model_kwargs else {}


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


def splits_as_datasets(data, convert: Callable = lambda rows: rows) -> dict:
    """The prepared tokenized splits as `datasets.Dataset`s, each row list passed through `convert` first."""
    from datasets import Dataset

    return {name: Dataset.from_list(convert(rows)) for name, rows in data.tokenized.items()}


def trainer_on(trainer_class, sets: dict, **kwargs):
    """trainer_class(train_dataset=sets["train"], eval_dataset=sets.get("validation"), **kwargs), keeping the test
    split beside it for `test_split_loss`."""
    trainer = trainer_class(train_dataset=sets["train"], eval_dataset=sets.get("validation"), **kwargs)
    trainer.test_dataset = sets.get("test")
    return trainer


def test_split_loss(trainer) -> dict | None:
    """The trainer's own metrics on the test split it was built with (`trainer_on`), or None without one."""
    test = getattr(trainer, "test_dataset", None)
    return None if test is None else {"test": trainer.evaluate(test, metric_key_prefix="test")}
