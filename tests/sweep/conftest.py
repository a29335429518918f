import pytest


@pytest.fixture
def lr_sweep_config(tiny_config, tmp_path):
    """The tiny LoRA config with a deliberately bad learning rate and a sweep over the learning rate."""
    from tunesmith.config import build_config

    raw = tiny_config.model_dump(mode="json")
    # one thread: a 64-wide model gains nothing from two, and loses a lot when other processes share the cores
    raw["training"].update(learning_rate=1e-6, max_steps=100, logging_steps=3, save_steps=1000, threads=1)
    raw["eval"].update(steps=3, compare_with_base=False)
    raw["output"] = {"dir": str(tmp_path / "sweeps"), "name": "lr"}
    raw["sweep"] = {"parameters": {"training.learning_rate": {"type": "log_uniform", "low": 1e-6, "high": 5e-2}},
                    "pruner_startup_trials": 1}
    return build_config(raw)
