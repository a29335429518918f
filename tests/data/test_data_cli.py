"""`tunesmith data inspect` and `tunesmith data prepare`, as a user runs them."""

import json
import sys

import yaml

from tunesmith.cli import main


def cli(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["tunesmith", *args])
    try:
        main()
    except SystemExit as exc:
        return exc.code
    return 0


def test_inspect_writes_report_and_histogram(monkeypatch, capsys, tiny_model, orders_files, tmp_path):
    train, _ = orders_files
    out = tmp_path / "report"
    code = cli(monkeypatch, "data", "inspect", str(train), "--model", str(tiny_model), "--max-length", "64",
               "--out", str(out), "--show-tokens", "1")
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads((out / "data_report.json").read_text())
    assert report["format"] == "messages" and report["records"] == 48 and report["schema"] == "chat"
    tokens = report["tokens"]
    assert tokens["min"] <= tokens["p50"] <= tokens["p99"] <= tokens["max"] and tokens["max_length"] == 64
    assert (tokens["over_max_length"] > 0) == (tokens["max"] > 64) == (tokens["tokens_lost_to_truncation"] > 0)
    assert (out / "token_lengths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "carry loss" in printed and f"{train}:1" in printed


def test_inspect_counts_what_it_would_remove(monkeypatch, capsys, tiny_model, write_jsonl, tmp_path):
    rows = [{"text": "call me on +44 20 7946 0958", "label": "a"}, {"text": "call me on +44 20 7946 0958", "label": "a"},
            {"text": "something else entirely", "label": "b"}]
    code = cli(monkeypatch, "data", "inspect", str(write_jsonl("c.jsonl", rows)), "--model", str(tiny_model),
               "--out", str(tmp_path / "r"))
    assert code == 0
    report = json.loads((tmp_path / "r" / "data_report.json").read_text())
    assert report["schema"] == "classification" and report["dropped_exact_duplicates"] == 1
    assert report["pii_phone"] == 2 and report["labels"] == {"a": 1, "b": 1}


def test_prepare_then_train_uses_the_prepared_folder(monkeypatch, capsys, tiny_config, tmp_path):
    tiny_config.training.max_steps = 2
    tiny_config.eval.compare_with_base = False
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_config.model_dump(mode="json")))
    assert cli(monkeypatch, "data", "prepare", str(path)) == 0
    run = tmp_path / "runs" / "tiny"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "prepared"
    assert set(manifest["prepared_data_sha256"]) == {"train", "validation", "test"}
    lines = (run / "data" / "train.jsonl").read_text().splitlines()
    assert len(lines) == manifest["data_report"]["tokens"]["train"]["examples"]
    assert json.loads(lines[0])["messages"][-1]["role"] == "assistant"
    assert not list(run.glob(".*tmp*"))
    assert cli(monkeypatch, "train", str(run / "config.yaml")) == 0
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished"
    assert "prepared data reused from cache" in (run / "train.log").read_text()
    # A second prepare of the same config refuses to touch the trained folder.
    assert cli(monkeypatch, "data", "prepare", str(run / "config.yaml")) == 2


def test_prepare_with_bad_data_leaves_no_folder(monkeypatch, capsys, tiny_config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"\n')
    raw = tiny_config.model_dump(mode="json")
    raw["data"]["train"] = str(bad)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert cli(monkeypatch, "data", "prepare", str(path)) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
