"""Full fine-tuning: every parameter trains."""

from tunesmith.methods.registry import register


@register("full", artifact="model")
def apply_full(model, cfg, task):
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model
