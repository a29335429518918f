"""GRPO (reinforcement learning from a reward signal) with TRL: the model samples answers to each prompt and is
pushed towards the better-scored ones. The reward is a built-in scorer, a Python function, or a trained reward
model's run directory."""

from __future__ import annotations

import importlib
from pathlib import Path

from tunesmith.data import PreparedData, load_splits
from tunesmith.errors import UserError
from tunesmith.data.tokenize import adds_bos, render
from tunesmith.data.tools import answer_text, uses_tools
from tunesmith.metrics.text import exact_match, json_exact_match, parse_json
from tunesmith.metrics.tools import argument_f1, call_decision_accuracy, function_name_accuracy, tool_call_exact_match
from tunesmith.objectives.graders import grader_reward
from tunesmith.objectives.classification import without_length_grouping
from tunesmith.objectives.registry import (
    Objective,
    register,
    splits_as_datasets,
    trainer_on,
)


def _text(completion) -> str:
    return completion[-1]["content"] if isinstance(completion, list) else completion


def reward_json_valid(prompts, completions, **kwargs) -> list[float]:
    return [float(parse_json(_text(c)) is not None) for c in completions]


def reward_exact_match(prompts, completions, reference, **kwargs) -> list[float]:
    return [exact_match(_text(c), r) for c, r in zip(completions, reference)]


def reward_json_match(prompts, completions, reference, **kwargs) -> list[float]:
    """Partial credit: 0.2 for valid JSON, 1.0 for the reference's JSON value."""
    return [max(0.2 * (parse_json(_text(c)) is not None), json_exact_match(_text(c), r))
            for c, r in zip(completions, reference)]


def tool_call_score(reply: str, reference: str) -> float:
    """Where the reference calls: 0.25 for calling, 0.25 for the right functions, 0.5 x argument F1 (1.0 for the
    exact calls); where it answers in text: 1.0 for answering without a call."""
    if tool_call_exact_match(reply, reference) is None:
        return call_decision_accuracy(reply, reference)
    return (0.25 * call_decision_accuracy(reply, reference) + 0.25 * function_name_accuracy(reply, reference)
            + 0.5 * argument_f1(reply, reference))


def reward_tool_call(prompts, completions, reference, **kwargs) -> list[float]:
    return [tool_call_score(_text(c), r) for c, r in zip(completions, reference)]


BUILT_IN = {"json_valid": reward_json_valid, "exact_match": reward_exact_match, "json_match": reward_json_match,
            "tool_call": reward_tool_call}


def resolve_reward(spec: str):
    """A built-in name, `grader:FILE.json` (an OpenAI grader), `module:function`, or a reward_model run directory
    (its model/ folder)."""
    if spec in BUILT_IN:
        return BUILT_IN[spec]
    if spec.startswith("grader:"):
        return grader_reward(spec.removeprefix("grader:"))
    if Path(spec, "model").is_dir():
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(str(Path(spec, "model")))
    if ":" in spec:
        module, _, name = spec.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise UserError(f"objective.reward: cannot import {spec} ({exc})") from None
    raise UserError(f"objective.reward '{spec}' is not a built-in ({', '.join(BUILT_IN)}), grader:FILE.json, "
                    "module:function, or a reward_model run directory")


def check(config) -> None:
    resolve_reward(config.objective.reward)
    batch = config.training.batch_size
    if batch is not None and batch % config.objective.num_generations:
        raise UserError(f"grpo: training.batch_size={batch} must be a multiple of "
                        f"objective.num_generations={config.objective.num_generations}")


def prepare(config, tokenizer) -> PreparedData:
    """Prompts and reference answers. Plain chat rows stay conversations (TRL applies the chat template); when any
    row has tools, tool calls or a reasoning trace, every prompt is the text data/tokenize.render writes, tool listing
    included, and references are the replies as that rendering writes them (<tool_call> blocks)."""
    splits, report = load_splits(config.data)
    prepared = PreparedData({}, data_report=report)
    rendered = any(uses_tools(ex.messages) or any(m.get("reasoning") for m in ex.messages)
                   for examples in splits.values() for ex in examples)
    for name, examples in splits.items():
        prepared.splits[name] = examples
        prepared.tokenized[name] = [{"prompt": _prompt(tokenizer, ex.messages[:-1], rendered),
                                     "reference": answer_text(ex.messages[-1], with_reasoning=False)}
                                    for ex in examples]
        prepared.report[name] = {"examples": len(examples), "tokens": 0, "loss_tokens": 0, "longest": 0}
    return prepared


def _prompt(tokenizer, messages: list[dict], rendered: bool):
    if not rendered:
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    text = render(tokenizer, messages, add_generation_prompt=True)
    # TRL tokenizes text prompts with the tokenizer's special tokens; a bos the template wrote would come twice.
    return text.removeprefix(tokenizer.bos_token) if adds_bos(tokenizer) else text


def build_trainer(model, tokenizer, data, trainer_args, callbacks, config):
    from trl import GRPOConfig, GRPOTrainer

    objective = config.objective
    args = {k: v for k, v in trainer_args.items() if k != "max_length"}
    grpo = GRPOConfig(**without_length_grouping(args), num_generations=objective.num_generations,
                      max_completion_length=objective.max_new_tokens, beta=objective.beta)
    return trainer_on(GRPOTrainer, splits_as_datasets(data), model=model, reward_funcs=resolve_reward(objective.reward),
                      args=grpo, processing_class=tokenizer, callbacks=callbacks)


# Rewards can be zero or negative from the start: only a NaN/inf loss counts as divergence.
register(Objective("grpo", "chat", "causal_lm", "CAUSAL_LM", prepare, build_trainer, check=check, cross_entropy=False))
