"""After saving, reload the run's weights from disk and prove they give the outputs of the model just trained."""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.models.saved import load_run

PROBE = "tunesmith reload check: two large oat lattes for Maria, and the film was not bad at all."
TOLERANCE = 1e-4


def probe_logits(model, tokenizer):
    import torch

    batch = tokenizer([PROBE], return_tensors="pt", add_special_tokens=True).to(next(model.parameters()).device)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if getattr(model.config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = batch["input_ids"][:, :4]
    with torch.no_grad():
        return model(**inputs).logits.float()


def verify_reload(model, tokenizer, run: Path) -> float:
    """Max absolute logit difference between the in-memory model and the reloaded run; refuses a bad save."""
    was_training = model.training
    model.eval()
    expected = probe_logits(model, tokenizer)
    model.train(was_training)
    reloaded = load_run(run).model
    difference = float((probe_logits(reloaded, tokenizer).to(expected.device) - expected).abs().max())
    if difference > TOLERANCE:
        raise UserError(f"{run}: the saved weights do not reproduce the trained model (max logit difference "
                        f"{difference:.2e} > {TOLERANCE:g})", hint="this is a bug; please report it with the run")
    return difference
