"""Repurposing: the whole backbone frozen, only a new task head trains (classification objectives)."""

from tunesmith.errors import UserError
from tunesmith.methods.registry import freeze_all, register
from tunesmith.models.heads import task_head


def check_head(config, hardware, task: str) -> None:
    if task != "SEQ_CLS":  # the objective's PEFT task: only sequence classifiers (and scorers) add a head
        raise UserError(f"method head trains a new task head; objective {config.objective.name} has none",
                        hint="use objective.name=classification, or method lora/freeze for generation")


@register("head", artifact="model", check=check_head)
def apply_head(model, cfg, task):
    freeze_all(model)
    task_head(model)[1].requires_grad_(True)
    # The classification objective sees that only the head trains and caches the backbone's features once.
    return model
