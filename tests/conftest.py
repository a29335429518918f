"""Shared fixtures: a tiny random chat model (2-layer Llama) with a ChatML tokenizer trained here, offline."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Prepared-data and converted-model caches go to a fresh folder: tests never read a developer's cache.
os.environ["TUNESMITH_HOME"] = tempfile.mkdtemp(prefix="tunesmith-home-")

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tokenizer(corpus: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        bos_token="<|im_start|>")
    tokenizer.chat_template = CHATML
    return tokenizer


def build_tiny_model(folder: Path, corpus: list[str], initializer_range: float = 0.3) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(corpus)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True, initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """`tunesmith ARGS` as a user runs it (errors become one line and an exit code): (code, stdout, stderr)."""
    import sys

    from tunesmith.cli import STATE, main

    monkeypatch.setattr(sys, "argv", ["tunesmith", *args])
    STATE["debug"] = False
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(monkeypatch, capsys):
    """run_cli with this test's monkeypatch and capsys: cli("eval", ...) -> (code, stdout, stderr)."""
    return lambda *args: run_cli(monkeypatch, capsys, *args)


def order_rows(count: int, seed: int = 0) -> list[dict]:
    from tunesmith.quickstart.orders import make_examples

    return make_examples(count, seed, hard=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    rows = order_rows(200, seed=123)
    corpus = [m["content"] for row in rows for m in row["messages"]] + ["system user assistant"]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), corpus)


@pytest.fixture
def write_jsonl(tmp_path):
    def write(name: str, rows: list, raw_lines: list[str] | None = None) -> Path:
        path = tmp_path / name
        lines = [json.dumps(r) for r in rows] + list(raw_lines or [])
        path.write_text("".join(line + "\n" for line in lines))
        return path

    return write


@pytest.fixture
def orders_files(write_jsonl):
    rows = order_rows(60, seed=7)
    return write_jsonl("train.jsonl", rows[:48]), write_jsonl("test.jsonl", rows[48:])


@pytest.fixture
def tiny_config(tiny_model, orders_files, tmp_path):
    """A small, fast LoRA SFT config on the tiny model; tests change fields with model_copy/assignment."""
    from tunesmith.config import build_config

    train, test = orders_files
    return build_config({
        "model": {"name": str(tiny_model)},
        "data": {"train": str(train), "test": str(test), "validation_size": 0.1, "max_length": 128},
        "method": {"name": "lora", "r": 8, "alpha": 16, "dropout": 0.0},
        "training": {"max_steps": 12, "batch_size": 4, "learning_rate": 3e-3, "logging_steps": 2, "save_steps": 6,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant"},
        "eval": {"steps": 6, "metrics": ["json_exact_match", "valid_json"], "max_new_tokens": 24, "max_examples": 6},
        "output": {"dir": str(tmp_path / "runs"), "name": "tiny"},
    })


@pytest.fixture(scope="session")
def lora_run(tiny_model, tmp_path_factory):
    """One finished LoRA run on the tiny model, shared by the tests that read or load it."""
    from rich.console import Console

    from tunesmith.config import build_config
    from tunesmith.training import train

    folder = tmp_path_factory.mktemp("lora-run")
    rows = order_rows(60, seed=7)
    for name, part in (("train", rows[:48]), ("test", rows[48:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    config = build_config({
        "model": {"name": str(tiny_model)},
        "data": {"train": str(folder / "train.jsonl"), "test": str(folder / "test.jsonl"), "max_length": 128},
        "method": {"name": "lora", "r": 8, "alpha": 16, "dropout": 0.0},
        "training": {"max_steps": 16, "batch_size": 4, "learning_rate": 1e-2, "logging_steps": 2, "save_steps": 8,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant"},
        "eval": {"steps": 8, "metrics": ["json_exact_match", "valid_json"], "max_new_tokens": 16, "max_examples": 4},
        "output": {"dir": str(folder / "runs"), "name": "tiny"},
    })
    return train(config, Console(quiet=True)), config


TOOL_CALL = {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}}


def tool_rows() -> list[dict]:
    """A call to make and a question to answer, with one tool: what the tool-calling run learns by heart."""
    from tunesmith.quickstart.tool_task import TOOLS

    weather = [t for t in TOOLS if t["function"]["name"] == "get_weather"]
    call = {"tools": weather, "messages": [{"role": "user", "content": "Weather in Oslo?"},
                                           {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}]}
    chat = {"tools": weather, "messages": [{"role": "user", "content": "Hi there!"},
                                           {"role": "assistant", "content": "Hello! How can I help?"}]}
    return [call, chat]


@pytest.fixture(scope="session")
def tool_run(tiny_model, tmp_path_factory):
    """A finished full fine-tune of the tiny model that calls get_weather for "Weather in Oslo?" and answers
    "Hi there!" in text (both rendered through the fallback tool template)."""
    from rich.console import Console

    from tunesmith.config import build_config
    from tunesmith.training import train

    folder = tmp_path_factory.mktemp("tool-run")
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tool_rows() * 8))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tool_rows()))
    config = build_config({
        "model": {"name": str(tiny_model)},
        "data": {"train": str(folder / "train.jsonl"), "test": str(folder / "test.jsonl"), "max_length": 480,
                 "validation_size": 0.0, "clean": {"dedup_exact": False, "dedup_near": False}},
        "method": {"name": "full"},
        "training": {"max_steps": 40, "batch_size": 4, "learning_rate": 3e-3, "logging_steps": 10, "save_steps": 40,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant"},
        "eval": {"metrics": ["tool_call_exact_match", "argument_f1", "call_decision_accuracy"], "max_new_tokens": 60,
                 "forgetting": False, "bias": False},
        "output": {"dir": str(folder / "runs"), "name": "tools"},
    })
    return train(config, Console(quiet=True))


def build_tiny_bert(folder: Path, corpus: list[str]) -> Path:
    """A 2-layer BERT encoder with a WordPiece tokenizer trained on `corpus`."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    # An explicit vocabulary (whole words, then characters): the WordPiece trainer breaks ties differently per
    # process, which made the tiny model, and the tests built on it, differ from run to run.
    normalizer, splitter = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = sorted({w for text in corpus for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text))})
    chars = sorted({c for w in words for c in w})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(specials + words + chars + ["##" + c for c in chars]))}
    core = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    core.normalizer, core.pre_tokenizer = normalizer, splitter
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                        initializer_range=0.1)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_t5(folder: Path, tokenizer_source: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    from tunesmith.quickstart.reviews import make_reviews

    corpus = [r["text"] for r in make_reviews(300, seed=5, hard=False)] + ["great wonderful superb lovely brilliant awful terrible "
                                                                "boring dreadful poor the film was really quite"]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), corpus)


@pytest.fixture(scope="session")
def tiny_llama_classifier(tmp_path_factory) -> Path:
    """The tiny Llama with a gentler initialisation: a classification head on it learns in a few dozen steps."""
    corpus = [m["content"] for row in order_rows(200, seed=123) for m in row["messages"]]
    corpus += ["great wonderful superb lovely brilliant awful terrible boring dreadful poor the film was really"]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama-cls"), corpus, initializer_range=0.05)


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory, tiny_model) -> Path:
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"), tiny_model)


@pytest.fixture(scope="session")
def classification_run(tiny_model, tmp_path_factory):
    """A finished LoRA sentiment-classification run on the tiny Llama (a new 2-class head)."""
    import json

    from rich.console import Console

    from tunesmith.config import build_config
    from tunesmith.quickstart.reviews import make_reviews
    from tunesmith.training import train

    folder = tmp_path_factory.mktemp("classification-run")
    rows = make_reviews(60, seed=3, hard=False)
    for name, part in (("train", rows[:48]), ("test", rows[48:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    config = build_config({
        "model": {"name": str(tiny_model)}, "objective": {"name": "classification"},
        "data": {"train": str(folder / "train.jsonl"), "test": str(folder / "test.jsonl"), "max_length": 128},
        "method": {"name": "lora", "r": 8, "alpha": 16, "dropout": 0.0},
        "training": {"max_steps": 6, "batch_size": 8, "learning_rate": 1e-2, "logging_steps": 2, "save_steps": 6,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant"},
        "eval": {"steps": 6},
        "output": {"dir": str(folder / "runs"), "name": "reviews"},
    })
    return train(config, Console(quiet=True))
