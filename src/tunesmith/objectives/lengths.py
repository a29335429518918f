"""How long an example may be (data.max_length) and what happens to a longer one (data.too_long), decided when the
config leaves them unset: what the model reads (its position embeddings), at most LONGEST tokens, and the
objective's own way with a long example. Classification keeps the text's first tokens, as a tokenizer's truncation
does and every plain Trainer script does; generation objectives stop with the list, because a cut example loses
its answer. Batches are padded to their own longest row, so a limit no row reaches costs nothing.
"""

from __future__ import annotations

from tunesmith.data.examples import LONGEST  # tokens, where the model reads more (or does not say)
from tunesmith.errors import UserError
from tunesmith.models import context_length

def _model_context(source, revision, trust_remote_code, tokenizer) -> int | None:
    from transformers import AutoConfig

    return context_length(AutoConfig.from_pretrained(source.path, revision=revision,
                                                     trust_remote_code=trust_remote_code), tokenizer)


def decide_lengths(config, objective, source, tokenizer) -> tuple[object, dict]:
    """(config with data.max_length and data.too_long set, {field: {"value", "why"}} for those decided here)."""
    data, chosen = config.data, {}
    context = _model_context(source, config.model.revision, config.model.trust_remote_code, tokenizer)
    if data.max_length is not None and context and data.max_length > context:
        raise UserError(f"data.max_length={data.max_length} is longer than the {context} positions "
                        f"{config.model.name} reads", hint=f"set data.max_length to {context} or less, or leave it "
                                                           "unset")
    if data.max_length is None:
        value = min(context or LONGEST, LONGEST)
        chosen["data.max_length"] = (value, f"the model reads {context} positions, at most {LONGEST} by default"
                                     if context else f"the model does not say how far it reads: {LONGEST}")
    if data.too_long is None:
        value = "truncate" if objective.can_truncate else "error"
        chosen["data.too_long"] = (value, f"objective {objective.name}: " + (
            "a text's first tokens still carry its label" if objective.can_truncate else "a cut example loses its "
                                                                                        "answer"))
    elif data.too_long == "truncate" and not objective.can_truncate:
        raise UserError(f"data.too_long=truncate keeps an example's first tokens, which objective {objective.name} "
                        "cannot do without cutting its answer", hint="use data.too_long=drop or error")
    resolved = config.model_copy(deep=True)
    for field, (value, _) in chosen.items():
        setattr(resolved.data, field.split(".")[1], value)
    return resolved, {field: {"value": value, "why": why} for field, (value, why) in chosen.items()}


def rules() -> list[tuple[str, str]]:
    """(field, how its default is decided) for `tunesmith config --explain`."""
    return [("data.max_length", f"the model's position embeddings (or its tokenizer's limit), at most {LONGEST}"),
            ("data.too_long", "truncate for objectives whose label survives a cut (classification), error for the "
                              "rest")]
