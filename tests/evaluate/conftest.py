import shutil

import pytest
from rich.console import Console


@pytest.fixture(scope="session")
def evaluated_run(lora_run, tmp_path_factory):
    """A copy of the shared LoRA run (its own files stay as training left them), evaluated again by
    `evaluate_run` on 12 test examples; returns (run directory, evaluation)."""
    from tunesmith.evaluate import evaluate_run

    run = tmp_path_factory.mktemp("evaluated") / "second"
    shutil.copytree(lora_run[0], run)
    return run, evaluate_run(run, Console(quiet=True), max_examples=12)
