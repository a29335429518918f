"""Partial fine-tuning: only the top `method.trainable_layers` blocks and the output head train."""

from tunesmith.errors import UserError
from tunesmith.methods.registry import freeze_all, register
from tunesmith.models.heads import task_head


def transformer_blocks(model):
    """The model's stack of repeated blocks: the largest ModuleList (layers, h, layer, blocks...)."""
    import torch

    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    if not stacks:
        raise UserError(f"cannot find the layer stack of {type(model).__name__}")
    return max(stacks, key=len)


@register("freeze", artifact="model")
def apply_freeze(model, cfg, task):
    blocks = transformer_blocks(model)
    if not 0 < cfg.trainable_layers <= len(blocks):
        raise UserError(f"method.trainable_layers={cfg.trainable_layers} but the model has {len(blocks)} layers")
    freeze_all(model)
    for block in list(blocks)[-cfg.trainable_layers :]:
        block.requires_grad_(True)
    _, head = task_head(model)
    head.requires_grad_(True)
    norm = getattr(getattr(model, model.base_model_prefix, model), "norm", None)
    if norm is not None:  # the final norm sits between the top block and the head
        norm.requires_grad_(True)
    return model
