"""LoRA via PEFT: low-rank adapters on the linear layers; the base weights stay frozen."""

from tunesmith.methods import register


@register("lora", artifact="adapter")
def apply_lora(model, cfg):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        # PEFT's "all-linear" finds the linear layers of any architecture and skips the output head.
        target_modules=cfg.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)
