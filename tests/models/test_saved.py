"""One load path: a run records what it saves, and every reader loads it from that record."""

import json
import shutil

import torch

from tunesmith.models.saved import SavedModel, folder_model_kind, load_run, saved_model_of_run, weights_saved


def logits(loaded, text="Tom here - two bagels"):
    batch = loaded.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return loaded.model(**batch).logits


def test_a_run_records_how_to_load_it_and_a_moved_run_still_loads(lora_run, tmp_path):
    run, config = lora_run
    record = json.loads((run / "manifest.json").read_text())["model"]
    assert record["format"] == "adapter" and record["weights"] == "adapter" and record["model_kind"] == "causal_lm"
    assert record["objective"] == "sft" and record["serving"] == "generate" and record["base"] == config.model.name
    moved = tmp_path / "elsewhere"
    shutil.copytree(run, moved)
    assert torch.equal(logits(load_run(moved)), logits(load_run(run)))
    assert load_run(moved).saved.weights == str(moved / "adapter")


def test_a_run_saved_before_records_loads_from_its_layout_and_is_migrated_once(lora_run, tmp_path):
    run, _ = lora_run
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["model"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    said = []
    migrated = saved_model_of_run(old, log=said.append)
    assert len(said) == 1 and "added the record to manifest.json" in said[0]
    assert migrated == SavedModel.from_record(json.loads((old / "manifest.json").read_text())["model"], old)
    assert (migrated.format, migrated.model_kind, migrated.serving) == ("adapter", "causal_lm", "generate")
    saved_model_of_run(old, log=said.append)
    assert len(said) == 1  # read from the record from now on
    assert torch.equal(logits(load_run(old)), logits(load_run(run)))


def test_a_run_without_weights_says_so_and_its_base_still_loads(lora_run, tmp_path):
    import pytest

    from tunesmith.errors import UserError

    run, _ = lora_run
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished, ignore=shutil.ignore_patterns("adapter"))
    manifest = json.loads((unfinished / "manifest.json").read_text())
    assert not weights_saved(unfinished, manifest)
    with pytest.raises(UserError, match="has no trained weights yet"):
        load_run(unfinished)
    assert torch.equal(logits(load_run(unfinished, base=True)), logits(load_run(run, base=True)))


def test_a_folder_says_which_model_class_reads_it(tmp_path):
    cases = {"cls": {"architectures": ["BertForSequenceClassification"]}, "t5": {"is_encoder_decoder": True},
             "lm": {"architectures": ["LlamaForCausalLM"]}}
    for name, config in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text(json.dumps({"task_type": "SEQ_CLS"}))
    kinds = {name: folder_model_kind(tmp_path / name) for name in (*cases, "adapter")}
    assert kinds == {"cls": "seq_cls", "t5": "seq2seq", "lm": "causal_lm", "adapter": "seq_cls"}
