"""LoRA and DoRA via PEFT: low-rank adapters on the linear layers; the base weights stay frozen."""

from tunesmith.methods.registry import register


def lora_config(cfg, task, use_dora: bool = False):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        # PEFT's "all-linear" finds the linear layers of any architecture and skips the output head.
        target_modules=cfg.target_modules,
        use_dora=use_dora,
        task_type=task,
    )


@register("lora", artifact="adapter")
def apply_lora(model, cfg, task):
    from peft import get_peft_model

    return get_peft_model(model, lora_config(cfg, task))  # fast.fuse_adapters speeds it up (training/run.py)


@register("dora", artifact="adapter")
def apply_dora(model, cfg, task):
    """Weight-decomposed LoRA: the update's magnitude and direction are learned separately."""
    from peft import get_peft_model

    return get_peft_model(model, lora_config(cfg, task, use_dora=True))
