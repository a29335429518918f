"""Replay from the base model (`data.replay.source: base`): the model just loaded answers the replay instructions
before training (a PEFT model with its adapter switched off), and data/replay.py turns the answers into rows."""

from __future__ import annotations

from contextlib import nullcontext

from tunesmith.data.replay import mix_answers
from tunesmith.evaluate.pair import is_peft
from tunesmith.evaluate.scoring import greedy_continuations


def greedy_answers(model, tokenizer):
    """prompts (token ids), max_new_tokens -> the untouched model's greedy answer ids."""

    def answer(prompts: list[list[int]], max_new_tokens: int) -> list:
        was_training = model.training
        with model.disable_adapter() if is_peft(model) else nullcontext():
            answers = greedy_continuations(model, tokenizer, prompts, max_new_tokens)
        model.train(was_training)
        return answers

    return answer


def mix_base_replay(model, tokenizer, data, cfg, model_path: str, dtype: str) -> dict:
    """Add the base's own answers to the prepared training split; returns what was added."""
    return mix_answers(greedy_answers(model, tokenizer), tokenizer, data, cfg, model_path, dtype)
