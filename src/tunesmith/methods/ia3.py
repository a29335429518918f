"""(IA)^3 via PEFT: learned scaling vectors on attention keys/values and the MLP; ~0.01% of the parameters."""

from tunesmith.errors import UserError
from tunesmith.methods.registry import register


def ia3_modules(model, cfg) -> tuple[list[str], list[str]]:
    """(target modules, feed-forward modules): PEFT's table for known architectures, else the config's list."""
    from peft.utils.constants import (
        TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING,
        TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING,
    )

    model_type = model.config.model_type
    if cfg.target_modules != "all-linear":
        return list(cfg.target_modules), []
    if model_type not in TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING:
        raise UserError(f"IA3 has no default modules for model type '{model_type}'",
                        hint="set method.target_modules to the attention key/value and MLP output layer names")
    return (list(TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING[model_type]),
            list(TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING[model_type]))


@register("ia3", artifact="adapter")
def apply_ia3(model, cfg, task):
    from peft import IA3Config, get_peft_model

    targets, feedforward = ia3_modules(model, cfg)
    return get_peft_model(model, IA3Config(target_modules=targets, feedforward_modules=feedforward, task_type=task))
