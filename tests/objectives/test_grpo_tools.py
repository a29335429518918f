"""GRPO on tool-calling rows: prompts keep the tool listing, references are the calls, and the tool_call reward
gives partial credit."""

import json

from rich.console import Console

from tests.conftest import tool_rows
from tunesmith.config import build_config
from tunesmith.data.tools import call_text
from tunesmith.objectives.reinforce import prepare, reward_tool_call, tool_call_score


CALL = {"name": "get_weather", "arguments": {"city": "Oslo"}}  # conftest's TOOL_CALL as the data layer keeps it


def test_tool_call_reward_scores_calls_and_text_answers():
    reference = call_text(CALL)
    wrong_city = reference.replace("Oslo", "Bergen")
    other_tool = reference.replace("get_weather", "get_time")
    assert tool_call_score(reference, reference) == 1.0
    assert tool_call_score(wrong_city, reference) == 0.5  # called the right function, argument wrong
    assert tool_call_score(other_tool, reference) == 0.25  # called, but another function
    assert tool_call_score("It is sunny in Oslo.", reference) == 0.0
    assert tool_call_score("Hello!", "Hello! How can I help?") == 1.0  # answered in text where no call was due
    assert tool_call_score(reference, "Hello! How can I help?") == 0.0
    completions = [[{"role": "assistant", "content": reference}], [{"role": "assistant", "content": "no"}]]
    assert reward_tool_call(None, completions, [reference, reference]) == [1.0, 0.0]


def grpo_config(tiny_model, tmp_path):
    path = tmp_path / "tools.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tool_rows() * 4))
    return build_config({
        "model": {"name": str(tiny_model)}, "objective": {"name": "grpo", "reward": "tool_call",
                                                           "num_generations": 2, "max_new_tokens": 8},
        "data": {"train": str(path), "validation_size": 0.0, "max_length": 480,
                 "clean": {"dedup_exact": False, "dedup_near": False}},
        "method": {"name": "lora", "r": 4, "alpha": 8, "dropout": 0.0},
        "training": {"max_steps": 2, "batch_size": 4, "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 100,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant"},
        "eval": {"compare_with_base": False, "forgetting": False, "bias": False},
        "output": {"dir": str(tmp_path / "runs"), "name": "grpo-tools"},
    })


def test_prompts_keep_the_tools_and_references_are_the_calls(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = prepare(grpo_config(tiny_model, tmp_path), tokenizer).tokenized["train"]
    call = next(r for r in rows if "Oslo" in r["prompt"])
    assert isinstance(call["prompt"], str) and "get_weather" in call["prompt"]
    assert call["prompt"].endswith("<|im_start|>assistant\n")
    assert call["reference"] == call_text(CALL)


def test_grpo_trains_on_tool_rows_with_the_tool_call_reward(tiny_model, tmp_path):
    from tunesmith.training import train

    run = train(grpo_config(tiny_model, tmp_path), Console(quiet=True))
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rewards = [m["reward"] for m in metrics if "reward" in m]
    assert rewards and all(0.0 <= r <= 1.0 for r in rewards)
