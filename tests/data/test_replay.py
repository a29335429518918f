"""data.replay: general rows join the training split only, sampled to the fraction, never overlapping evaluation."""

import json

import pytest

from tunesmith.config import build_config
from tunesmith.objectives import get_objective
from tunesmith.data.replay import PROMPTS_FILE, check_replay, read_instructions
from tunesmith.training.replay import mix_base_replay
from tunesmith.errors import UserError
from tunesmith.evaluate.forgetting import read_prompts


def general_rows(count: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"general question number {i} about the weather"},
                          {"role": "assistant", "content": f"general answer {i}: it is sunny today"}]}
            for i in range(count)]


def test_replay_settings_the_objective_cannot_use_are_refused(tmp_path):
    data = lambda source: build_config({"data": {"replay": {"source": source}}}).data  # noqa: E731
    with pytest.raises(UserError, match="does not work with objective.name=classification"):
        check_replay("classification", get_objective("classification").replay, data("base"))
    with pytest.raises(UserError, match="does not work with objective.name=causal_lm"):
        check_replay("causal_lm", get_objective("causal_lm").replay, data("base"))
    with pytest.raises(UserError, match="not found"):
        check_replay("sft", get_objective("sft").replay, data(str(tmp_path / "missing.jsonl")))
    check_replay("sft", get_objective("sft").replay, data("base"))
    check_replay("dpo", get_objective("dpo").replay, build_config({}).data)  # no replay: nothing to check


def test_shipped_instructions_are_disjoint_from_the_forgetting_prompts():
    instructions = read_instructions(None)
    assert len(instructions) >= 60 and len(set(instructions)) == len(instructions)
    assert not set(instructions) & set(read_prompts())
    assert PROMPTS_FILE.name in str(PROMPTS_FILE)


def test_file_replay_joins_train_only_and_skips_rows_that_repeat_the_test_split(tiny_model, tmp_path, write_jsonl):
    from transformers import AutoTokenizer

    from tunesmith.data import prepare_chat_data
    from tunesmith.quickstart.orders import make_examples

    orders = make_examples(50, seed=3, hard=False)
    train, test = write_jsonl("train.jsonl", orders[:40]), write_jsonl("test.jsonl", orders[40:])
    replay = write_jsonl("general.jsonl", general_rows(30) + orders[40:43])  # three rows copy test rows
    config = build_config({"data": {"train": str(train), "test": str(test), "validation_size": 0.0,
                                    "max_length": 256, "replay": {"source": str(replay), "fraction": 0.5}}})
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    data = prepare_chat_data(config.data, tokenizer)
    info = data.data_report["replay"]
    assert info["overlapping_evaluation"] == 3 and info["available"] == 30 and info["rows"] == 20
    replayed = [ex for ex in data.splits["train"] if ex.source.startswith(str(replay))]
    assert len(replayed) == 20 and len(data.splits["train"]) == 60
    assert all("general" in ex.messages[0]["content"] for ex in replayed)
    assert len(data.splits["test"]) == 10 and not any(ex.source.startswith(str(replay)) for ex in data.splits["test"])
    assert data.report["train"]["examples"] == 60
    again = prepare_chat_data(config.data, tokenizer)  # the sample is seeded
    assert [ex.source for ex in again.splits["train"]] == [ex.source for ex in data.splits["train"]]


def test_text_replay_for_continued_pretraining(tiny_model, tmp_path, write_jsonl):
    from transformers import AutoTokenizer

    from tunesmith.objectives import get_objective

    train = write_jsonl("train.jsonl", [{"text": f"task document {i} with words about orders"} for i in range(20)])
    replay = write_jsonl("general.jsonl", [{"text": f"general document {i} about rivers"} for i in range(10)])
    config = build_config({"objective": {"name": "causal_lm"}, "data": {
        "train": str(train), "validation_size": 0.0, "max_length": 64, "replay": {"source": str(replay)}}})
    data = get_objective("causal_lm").prepare_data(config, AutoTokenizer.from_pretrained(tiny_model))
    assert data.data_report["replay"]["rows"] == 5
    assert data.report["train"]["documents"] == 25
    assert sum("rivers" in row["text"] for row in data.splits["train"]) == 5


def test_base_replay_trains_on_the_bases_own_tokens_and_is_cached(tiny_model, tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.data import PreparedData
    from tunesmith.data.tokenize import IGNORE, prompt_token_ids
    from tunesmith.evaluate import scoring

    monkeypatch.setenv("TUNESMITH_HOME", str(tmp_path / "home"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=4, init_lora_weights=False))
    cfg = build_config({"data": {"replay": {"source": "base", "fraction": 0.5, "max_new_tokens": 12}}}).data
    data = PreparedData({"train": [None] * 20}, {"train": [{"input_ids": [1, 2], "labels": [1, 2]}] * 20}, {}, {})
    model.train()
    info = mix_base_replay(model, tokenizer, data, cfg, str(tiny_model), "float32")
    assert model.training  # generation put it in eval mode; replay hands it back as it was
    assert info["rows"] == 10 and len(data.tokenized["train"]) == 30 and data.report["train"]["examples"] == 30
    instruction = data.splits["train"][20].messages[0]["content"]
    prompt = prompt_token_ids(tokenizer, [instruction], 256)[0]
    # The adapter (initialised non-zero here) is switched off: the rows are the base model's greedy answer.
    expected = scoring.greedy_continuations(base, tokenizer, [prompt], 12)[0]
    row = data.tokenized["train"][20]
    assert row["input_ids"] == prompt + expected and row["labels"] == [IGNORE] * len(prompt) + expected
    plain = PreparedData({"train": [None] * 20}, {"train": [{"input_ids": [1, 2], "labels": [1, 2]}] * 20}, {}, {})
    mix_base_replay(base, tokenizer, plain, cfg.model_copy(update={"cache": False}), str(tiny_model), "float32")
    assert plain.tokenized["train"] == data.tokenized["train"]  # a full-weight model answers as itself
    calls = []
    monkeypatch.setattr(scoring, "greedy_continuations", lambda *a, **k: calls.append(1) or [])
    again = PreparedData({"train": [None] * 20}, {"train": [{"input_ids": [1, 2], "labels": [1, 2]}] * 20}, {}, {})
    mix_base_replay(model, tokenizer, again, cfg, str(tiny_model), "float32")
    assert not calls and again.tokenized["train"] == data.tokenized["train"]
    assert json.loads(open(info["cache"]).read())
