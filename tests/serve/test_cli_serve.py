"""`tunesmith serve` refuses what it cannot serve with one line and exit 2, before loading any model."""

import json
import socket
from pathlib import Path

import pytest

from tunesmith.errors import UserError
from tunesmith.serve.loading import load_models, parse_spec, plan_model


def test_a_taken_port_is_reported_before_models_load(monkeypatch, capsys, lora_run, cli):
    run, _ = lora_run
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = cli("serve", str(run), "--port", str(taken.getsockname()[1]))
    assert code == 2 and err.startswith("error: cannot listen on 127.0.0.1:") and "--port" in err


def test_paths_that_are_not_models_are_refused(monkeypatch, capsys, tmp_path, cli):
    code, _, err = cli("serve", str(tmp_path), "--port", "0")
    assert code == 2 and "is not a run directory, a tunesmith export or a Hugging Face model folder" in err
    assert "Traceback" not in err


def test_onnx_exports_and_duplicate_names_are_refused(tmp_path, lora_run):
    (tmp_path / "tunesmith_export.json").write_text(json.dumps({"format": "onnx"}))
    with pytest.raises(UserError, match="ONNX decoder export"):
        plan_model(None, tmp_path)
    run, _ = lora_run
    with pytest.raises(UserError, match="both be served as 'x'"):
        load_models([f"x={run}", f"x={run}"])


def test_names_come_from_the_folder_or_name_equals_path():
    assert parse_spec("runs/orders-v2") == (None, Path("runs/orders-v2"))
    assert parse_spec("orders=runs/a=b") == ("orders", Path("runs/a=b"))
    assert parse_spec("runs/a=b") == (None, Path("runs/a=b"))
