"""The model a run trains: the starting weights loaded with the objective's model class and head, the method (or
the parent run's adapter) applied and the fast path's fused layers in place."""

from __future__ import annotations

from tunesmith.config import RunConfig
from tunesmith.fast import fuse_adapters
from tunesmith.methods import count_parameters
from tunesmith.models import load_model
from tunesmith.training.lineage import with_parent_adapter


def _dropout_overrides(source, rate: float | None) -> dict:
    """from_pretrained kwargs that set every dropout rate the model's config has."""
    if rate is None:
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source.path)
    return {k: rate for k in config.to_dict() if "dropout" in k and isinstance(getattr(config, k), float)}


def load_for_training(config: RunConfig, inputs, log):
    """The starting model with the run's method applied (or the parent run's adapter, trained further)."""
    source, hardware, method, objective = inputs.source, inputs.hardware, inputs.method, inputs.objective
    kwargs = {**_dropout_overrides(source, config.training.dropout),
              **(method.load_kwargs(config) if method.load_kwargs else {}),
              **objective.head_kwargs(inputs.data)}
    model = load_model(source, objective.model_kind, hardware.dtype, config.model.revision,
                       config.model.trust_remote_code, **kwargs)
    parent = inputs.parent
    model = (with_parent_adapter(model, parent) if parent and parent.adapter
             else method.apply(model, config.method, objective.task))
    model = fuse_adapters(model, config.fast).to(hardware.device)
    trainable, total = count_parameters(model)
    log(f"parameters: {trainable:,} trainable of {total:,} ({100 * trainable / total:.2f}%), method {method.name}")
    return model
