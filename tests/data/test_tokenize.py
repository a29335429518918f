import pytest
from transformers import AutoTokenizer

from tunesmith.config import DataConfig
from tunesmith.data import prepare_chat_data
from tunesmith.data.tokenize import IGNORE, render, tokenize_chat
from tunesmith.errors import UserError

MESSAGES = [
    {"role": "system", "content": "Answer in JSON."},
    {"role": "user", "content": "two lattes for Tom"},
    {"role": "assistant", "content": '{"name": "Tom"}'},
    {"role": "user", "content": "and a bagel"},
    {"role": "assistant", "content": '{"item": "bagel"}'},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def loss_text(tokenizer, example) -> str:
    return tokenizer.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE])


def test_loss_only_on_assistant_replies_and_their_end_of_turn(tokenizer):
    example = tokenize_chat(tokenizer, MESSAGES)
    assert loss_text(tokenizer, example) == '{"name": "Tom"}<|im_end|>\n{"item": "bagel"}<|im_end|>\n'
    assert tokenizer.eos_token_id in [t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE]


def test_template_round_trips_between_training_and_inference(tokenizer):
    example = tokenize_chat(tokenizer, MESSAGES)
    prompt = render(tokenizer, MESSAGES[:-1], add_generation_prompt=True)
    assert tokenizer.decode(example["input_ids"]) == render(tokenizer, MESSAGES)
    assert render(tokenizer, MESSAGES).startswith(prompt)
    # What inference feeds the model is exactly the prefix of what training saw.
    prefix = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert example["input_ids"][: len(prefix)] == prefix


def test_weight_zero_reply_carries_no_loss(tokenizer):
    weighted = [dict(m) for m in MESSAGES]
    weighted[2]["weight"] = 0
    assert loss_text(tokenizer, tokenize_chat(tokenizer, weighted)) == '{"item": "bagel"}<|im_end|>\n'


def test_loss_on_all_tokens(tokenizer):
    example = tokenize_chat(tokenizer, MESSAGES, loss_on="all")
    assert example["labels"] == example["input_ids"]


def test_too_long_examples_are_reported_with_counts(tokenizer, write_jsonl):
    rows = [{"prompt": "order " * 40, "completion": "ok"}, {"prompt": "hi", "completion": "ok"}]
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)), validation_size=0, max_length=40)
    with pytest.raises(UserError, match=r"t.jsonl:1: example is \d+ tokens, longer than data.max_length=40; "
                                        r"1 train example\(s\) too long"):
        prepare_chat_data(cfg, tokenizer)


def test_tokenizer_without_chat_template_is_a_clear_error(tokenizer):
    plain = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    plain.chat_template = None
    with pytest.raises(UserError, match="no chat template"):
        tokenize_chat(plain, MESSAGES)


def test_too_long_examples_can_be_dropped_and_counted(tokenizer, write_jsonl):
    rows = [{"prompt": "order " * 40, "completion": "ok"}, {"prompt": "hi", "completion": "ok"},
            {"prompt": "hello", "completion": "fine"}]
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)), validation_size=0, max_length=40, too_long="drop")
    prepared = prepare_chat_data(cfg, tokenizer)
    assert prepared.report["train"]["examples"] == 2
    assert prepared.data_report["dropped_too_long"] == {"train": 1}
    assert all(not ex.source.endswith(":1") for ex in prepared.splits["train"])
