"""Where a loaded model keeps its output head."""

from __future__ import annotations

from tunesmith.errors import UserError

HEAD_NAMES = ("score", "classifier", "lm_head")


def task_head(model):
    """(name, module) of the output head: a classification head if the model has one, else the LM head."""
    for name in HEAD_NAMES:
        module = getattr(model, name, None)
        if module is not None:
            return name, module
    raise UserError(f"cannot find the output head of {type(model).__name__} (looked for {', '.join(HEAD_NAMES)})")
