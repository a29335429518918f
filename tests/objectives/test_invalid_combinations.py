"""Impossible method/objective/data combinations fail with one clear line before any weights load."""

import sys

import pytest

from tunesmith.cli import main


def run(monkeypatch, capsys, *overrides):
    monkeypatch.setattr(sys, "argv", ["tunesmith", "train", *[a for o in overrides for a in ("--set", o)]])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    return err.splitlines()[0]


@pytest.fixture
def pairs_without_rejected(write_jsonl):
    return write_jsonl("p.jsonl", [{"prompt": "q", "chosen": "a"}])


def test_qlora_on_cpu_stops_before_reading_anything(monkeypatch, capsys, tiny_model, tmp_path):
    line = run(monkeypatch, capsys, f"model.name={tiny_model}", "method.name=qlora",
               f"data.train={tmp_path / 'not-even-there.jsonl'}")
    assert "qlora needs a CUDA GPU" in line


def test_dpo_needs_rejected(monkeypatch, capsys, tiny_model, pairs_without_rejected):
    line = run(monkeypatch, capsys, f"model.name={tiny_model}", "objective.name=dpo",
               f"data.train={pairs_without_rejected}")
    assert "p.jsonl:1: no known format" in line and "prompt+chosen+rejected" in line


def test_classification_needs_labels(monkeypatch, capsys, tiny_model, write_jsonl):
    data = write_jsonl("t.jsonl", [{"text": "a review"}])
    line = run(monkeypatch, capsys, f"model.name={tiny_model}", "objective.name=classification", f"data.train={data}")
    assert "'text' data cannot train a classification objective" in line


def test_head_needs_a_head_objective(monkeypatch, capsys, tiny_model, orders_files):
    line = run(monkeypatch, capsys, f"model.name={tiny_model}", "method.name=head", f"data.train={orders_files[0]}")
    assert "method head trains a new task head; objective sft has none" in line


def test_grpo_batch_must_hold_whole_groups(monkeypatch, capsys, tiny_model, orders_files):
    line = run(monkeypatch, capsys, f"model.name={tiny_model}", "objective.name=grpo", "objective.num_generations=3",
               "training.batch_size=4", f"data.train={orders_files[0]}")
    assert "must be a multiple of objective.num_generations=3" in line


def test_seq2seq_needs_an_encoder_decoder(monkeypatch, capsys, tiny_model, orders_files, tmp_path):
    line = run(monkeypatch, capsys, f"model.name={tiny_model}", "objective.name=seq2seq",
               f"data.train={orders_files[0]}", f"output.dir={tmp_path}")
    assert "cannot be loaded as AutoModelForSeq2SeqLM" in line
    assert not list(tmp_path.glob("*/manifest.json"))  # refused before a run directory was made
