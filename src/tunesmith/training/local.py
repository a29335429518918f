"""Training without a run folder: a model with its method applied, trained on a given set of rows and handing back
its trainable weights. A federated client trains one round with it (federated/client.py), and a run's own model is
trained on one client's rows with it (federated/compare.py: each client alone).

The rows are the prepared training split's tokenized rows, so every objective trains here exactly as in a run:
its own trainer, its collator, the decided learning rate, batch and schedule (one schedule per call: warmup and
decay over the call's own steps).
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import RunConfig
from tunesmith.training.arguments import trainer_args
from tunesmith.training.callbacks import AnchorDecay
from tunesmith.training.defaults import decide
from tunesmith.training.model import load_for_training
from tunesmith.training.prepare import prepare_inputs


@dataclass
class Local:
    """What local training reuses between calls (a run's Stage has the same fields)."""

    config: RunConfig  # with the training defaults decided
    objective: Any
    tokenizer: Any
    data: Any  # PreparedData
    hardware: Any
    model: Any


def local_setup(config: RunConfig, log) -> Local:
    """Data prepared (a cache hit after the first time), defaults decided, model loaded with the method."""
    from transformers import set_seed

    inputs = prepare_inputs(config, log)
    decided, _ = decide(inputs.config, inputs.objective, inputs.source, inputs.data)
    set_seed(decided.training.seed)  # every process starts from the same new head and adapter
    model = load_for_training(decided, inputs, log)
    return Local(decided, inputs.objective, inputs.tokenizer, inputs.data, inputs.hardware, model)


def trainable_state(model) -> dict:
    """The weights that train (a LoRA adapter and a classifier's new head), by name, detached on the CPU."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model, state: dict) -> None:
    """Put `state` (from trainable_state of a model built the same way) into the model's trainable weights."""
    import torch

    params = dict(model.named_parameters())
    missing = [name for name in state if name not in params]
    if missing:
        raise ValueError(f"weights for {len(missing)} parameters this model lacks, e.g. {missing[0]}")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(torch.as_tensor(value).to(params[name].dtype))


def train_rows(local: Local, rows: list[dict], epochs: float, pull: float = 0.0, steady: bool = False) -> dict:
    """Train the model `epochs` passes over `rows` (tokenized training rows), with an optional pull of strength
    `pull` toward the weights it starts from (training.anchor_decay's mechanism; FedProx's proximal term).
    `steady`: at the peak rate throughout (no warmup, no decay), as a federated client trains each round: a round is
    a few steps, and a schedule restarted every round would spend them warming up and decaying.
    Returns {rows, train_loss, steps, seconds}."""
    from transformers.trainer_callback import PrinterCallback

    config = local.config.model_copy(deep=True)
    config.training.epochs, config.training.max_steps = epochs, -1
    if steady:
        config.training.lr_scheduler, config.training.warmup_ratio = "constant", 0.0
    data = dataclasses.replace(local.data, tokenized={"train": rows})
    with tempfile.TemporaryDirectory(prefix="tunesmith-local-") as folder:
        args = {**trainer_args(config, local.hardware, Path(folder), False),
                "save_strategy": "no", "eval_on_start": False, "load_best_model_at_end": False}
        callbacks = [AnchorDecay(local.model, pull)] if pull else []
        trainer = local.objective.build_trainer(local.model, local.tokenizer, data, args, callbacks, config)
        trainer.remove_callback(PrinterCallback)
        result = trainer.train()
    return {"rows": len(rows), "train_loss": float(result.training_loss), "steps": result.global_step,
            "seconds": float(result.metrics.get("train_runtime", 0.0))}
