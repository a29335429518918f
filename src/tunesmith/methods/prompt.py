"""Prompt tuning and prefix tuning via PEFT: learned virtual tokens; the model itself is untouched."""

from tunesmith.errors import UserError
from tunesmith.methods.registry import register


def _check_task(task: str, name: str) -> None:
    if task not in ("CAUSAL_LM", "SEQ_2_SEQ_LM", "SEQ_CLS"):
        raise UserError(f"method {name} does not support a {task} objective")


@register("prompt_tuning", artifact="adapter")
def apply_prompt_tuning(model, cfg, task):
    from peft import PromptTuningConfig, get_peft_model

    _check_task(task, "prompt_tuning")
    return get_peft_model(model, PromptTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type=task))


@register("prefix_tuning", artifact="adapter")
def apply_prefix_tuning(model, cfg, task):
    from peft import PrefixTuningConfig, get_peft_model

    _check_task(task, "prefix_tuning")
    return get_peft_model(model, PrefixTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type=task))
