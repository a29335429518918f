"""data.max_length and data.too_long left unset: decided from the model's positions and the objective."""

import pytest

from tunesmith.config import build_config
from tunesmith.errors import UserError
from tunesmith.training.prepare import prepare_inputs


def _classification(tiny_bert, write_jsonl, tmp_path, **data):
    words = ["great", "wonderful", "superb", "lovely", "brilliant", "awful", "terrible", "boring", "dreadful", "poor"]
    rows = [{"text": f"the film was {a} and {b}", "label": "pos" if i < 5 else "neg"}
            for i, a in enumerate(words) for b in words[:2]][:12]
    rows.append({"text": " ".join(["the film was really quite boring"] * 80), "label": "neg"})  # ~480 words
    return build_config({"model": {"name": str(tiny_bert)}, "objective": {"name": "classification"},
                         "method": {"name": "full"},
                         "data": {"train": str(write_jsonl("c.jsonl", rows)), "validation_size": 0.0, **data},
                         "output": {"dir": str(tmp_path / "runs")}})


def test_classification_reads_what_the_model_reads_and_keeps_the_start_of_longer_texts(tiny_bert, write_jsonl,
                                                                                     tmp_path):
    lines = []
    inputs = prepare_inputs(_classification(tiny_bert, write_jsonl, tmp_path), lines.append)
    assert inputs.config.data.max_length == 256 and inputs.config.data.too_long == "truncate"
    assert "256 positions" in inputs.chosen["data.max_length"]["why"]
    longest = max(inputs.data.tokenized["train"], key=lambda r: len(r["input_ids"]))["input_ids"]
    sep = inputs.tokenizer.sep_token_id
    assert len(longest) == 256 and longest[-1] == sep and longest[0] == inputs.tokenizer.cls_token_id
    assert len(inputs.data.tokenized["train"]) == 13  # nothing dropped
    assert inputs.data.data_report["truncated_too_long"] == {"train": 1}
    assert any(line.startswith("length: examples over data.max_length=256") for line in lines)


def test_a_limit_past_the_model_s_positions_is_refused(tiny_bert, write_jsonl, tmp_path):
    with pytest.raises(UserError, match="data.max_length=1000 is longer than the 256 positions"):
        prepare_inputs(_classification(tiny_bert, write_jsonl, tmp_path, max_length=1000), print)


def test_an_explicit_limit_and_mode_are_kept(tiny_bert, write_jsonl, tmp_path):
    inputs = prepare_inputs(_classification(tiny_bert, write_jsonl, tmp_path, max_length=64, too_long="drop"), print)
    assert set(inputs.chosen) == {"batch_size"} and len(inputs.data.tokenized["train"]) == 12
    assert inputs.data.data_report["dropped_too_long"] == {"train": 1}


def test_generation_stops_on_a_long_example_and_cannot_truncate(tiny_config):
    config = tiny_config.model_copy(deep=True)
    config.data.max_length, config.data.too_long = None, None
    inputs = prepare_inputs(config, print)
    assert inputs.config.data.max_length == 512 and inputs.config.data.too_long == "error"
    config.data.too_long = "truncate"
    with pytest.raises(UserError, match="objective sft cannot do without cutting its answer"):
        prepare_inputs(config, print)
