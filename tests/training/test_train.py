"""End to end on the tiny model: train → artifacts → reload → chat, and the run directory's guarantees."""

import json

import pytest
import torch
from rich.console import Console

from tunesmith.errors import UserError
from tunesmith.inference import generate
from tunesmith.models.saved import load_run
from tunesmith.training import train


def quiet():
    return Console(quiet=True)


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_loss_goes_down_and_validation_is_measured(lora_run):
    run, _ = lora_run
    rows = metrics(run)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 8 and losses[-1] < 0.7 * losses[0]
    assert [r["step"] for r in rows if "eval_loss" in r] == [0, 8, 16]
    assert all(r["tokens_per_second"] > 0 for r in rows if "loss" in r)


def test_run_directory_holds_everything(lora_run):
    run, config = lora_run
    for name in ("config.yaml", "manifest.json", "metrics.jsonl", "train.log", "summary.json", "eval.json",
                 "adapter/adapter_model.safetensors", "adapter/adapter_config.json", "adapter/tokenizer_config.json"):
        assert (run / name).is_file(), name
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["data_sha256"]["train"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 16 and summary["final_train_loss"] < summary["first_train_loss"]
    comparison = json.loads((run / "eval.json").read_text())
    assert comparison["examples"] == 4 and set(comparison["metrics"]) == {"json_exact_match", "valid_json"}
    assert "hardware: device cpu" in (run / "train.log").read_text()


def test_adapter_reloads_to_the_same_outputs(lora_run):
    run, _ = lora_run
    loaded = load_run(run)
    model, tokenizer = loaded.model, loaded.tokenizer
    loaded = load_run(run, base=True)
    base, _ = loaded.model, loaded.tokenizer
    batch = tokenizer(["<|im_start|>user\nTom here - two bagels<|im_end|>\n"], return_tensors="pt")
    with torch.no_grad():
        tuned_logits, base_logits = model(**batch).logits, base(**batch).logits
        again = load_run(run).model(**batch).logits
    assert torch.equal(tuned_logits, again)
    assert not torch.allclose(tuned_logits, base_logits, atol=1e-3)  # the adapter changed the model


def test_generate_is_deterministic_and_batch_independent(lora_run):
    run, _ = lora_run
    loaded = load_run(run)
    model, tokenizer = loaded.model, loaded.tokenizer
    conversations = [[{"role": "user", "content": text}] for text in ("Tom here - two bagels", "hi", "one tea for Mei")]
    batched = generate(model, tokenizer, conversations, max_new_tokens=8, batch_size=3)
    single = [generate(model, tokenizer, [c], max_new_tokens=8, batch_size=1)[0] for c in conversations]
    assert batched == single


def test_existing_run_is_never_overwritten(lora_run):
    run, config = lora_run
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    with pytest.raises(UserError, match="already exists"):
        train(config, quiet())
    assert before == {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}


def test_full_fine_tuning_saves_the_whole_model(tiny_config):
    tiny_config.method.name = "full"
    tiny_config.training.learning_rate = 1e-3
    tiny_config.eval.compare_with_base = False
    run = train(tiny_config, quiet())
    assert (run / "model" / "model.safetensors").is_file() and not (run / "adapter").exists()
    loaded = load_run(run)
    model, _ = loaded.model, loaded.tokenizer
    assert sum(p.numel() for p in model.parameters()) > 50_000


def test_the_optimizer_state_is_freed_before_the_reload_check(tiny_config, monkeypatch):
    """The reload check and the evaluation load more model copies; the optimizer's moments must be gone by then."""
    import gc
    import weakref

    from transformers import TrainerCallback

    from tunesmith.training import run as training_run

    held = {}

    class Watch(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
            inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps it
            held["optimizer"] = weakref.ref(inner)

    def check_then_verify(*args, **kwargs):
        gc.collect()
        held["alive_at_reload"] = held["optimizer"]() is not None
        return original(*args, **kwargs)

    original = training_run.verify_reload
    monkeypatch.setattr(training_run, "verify_reload", check_then_verify)
    tiny_config.method.name = "full"
    tiny_config.training.max_steps = 2
    tiny_config.eval.compare_with_base = False
    train(tiny_config, quiet(), callbacks=[Watch()])
    assert held["alive_at_reload"] is False


@pytest.mark.slow
def test_real_smollm2_learns_the_order_schema(tmp_path):
    """The quickstart path on the real bundled model, shortened: loss falls and the tuned model emits the schema."""
    from tunesmith.config import apply_overrides, build_config, read_yaml
    from tunesmith.quickstart import EXAMPLE_CONFIG, write_data
    from tunesmith.quickstart.orders import SYSTEM_PROMPT

    paths = write_data(tmp_path / "data")
    raw = read_yaml(EXAMPLE_CONFIG)
    raw["data"].update({k: str(p) for k, p in paths.items()}, system_prompt=SYSTEM_PROMPT)
    raw["output"] = {"dir": str(tmp_path / "runs"), "name": "real"}
    config = build_config(apply_overrides(raw, ["training.max_steps=16", "eval.max_examples=10"]))
    run = train(config, quiet())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final_train_loss"] < 0.5 * summary["first_train_loss"]
    tuned = summary["comparison"]["valid_json"]
    assert tuned["tuned"] > tuned["base"] and tuned["tuned"] >= 0.8
