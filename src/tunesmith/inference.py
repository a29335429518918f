"""Load a run's model (or its untouched base) and generate replies with the same chat template training used."""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.tokenize import render
from tunesmith.errors import UserError


def artifact_dir(run: Path) -> Path | None:
    """The trained weights of a finished run: adapter/ (PEFT methods) or model/ (full weights)."""
    for name in ("adapter", "model"):
        if (run / name).is_dir():
            return run / name
    return None


def load_for_inference(run: Path, base: bool = False):
    """(model, tokenizer, config) for a run directory; base=True gives the untouched starting model.

    The model class follows the run's objective (a classifier for classification, a causal LM for SFT...)."""
    from tunesmith.hardware import detect
    from tunesmith.models import ModelSource, load_model, load_tokenizer, resolve_model
    from tunesmith.objectives import get_objective
    from tunesmith.runs import open_run

    config, manifest = open_run(run)
    kind = get_objective(config.objective.name).model_kind
    hardware = detect(config.model.dtype, config.model.device, config.training.threads)
    source = resolve_model(config.model.name)
    weights = artifact_dir(run)
    if weights is None and not base:
        raise UserError(f"{run} has no trained weights yet (no adapter/ or model/)",
                        hint=f"finish it with `tunesmith train --resume {run}`, or use --base")
    if weights is not None and weights.name == "model" and not base:
        model = load_model(ModelSource(str(weights), str(weights), "local"), kind, hardware.dtype)
    else:
        # A new head (classification, reward model) needs its shape: the run recorded it in the manifest.
        extra = manifest.get("model_kwargs", {}) if kind == "seq_cls" else {}
        model = load_model(source, kind, hardware.dtype, config.model.revision, config.model.trust_remote_code,
                           **_with_int_keys(extra))
        if weights is not None and not base:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(weights))
    tokenizer = load_tokenizer(source, config.model.revision, config.model.trust_remote_code)
    if kind == "seq_cls":
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(hardware.device).eval(), tokenizer, config


def _with_int_keys(kwargs: dict) -> dict:
    """JSON turned id2label's integer keys into strings; transformers wants them back."""
    if "id2label" in kwargs:
        kwargs = {**kwargs, "id2label": {int(k): v for k, v in kwargs["id2label"].items()}}
    return kwargs


def generate(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int = 128,
             batch_size: int = 16, temperature: float = 0.0) -> list[str]:
    """Replies to each conversation; batched with left padding, greedy unless temperature > 0."""
    import torch

    tokenizer.padding_side = "left"
    texts = [render(tokenizer, conv, add_generation_prompt=True) for conv in conversations]
    # Longest first and similar lengths together: less padding, and memory trouble shows up in the first batch.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    replies: list[str] = [""] * len(texts)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        encoded = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            output = model.generate(
                **encoded.to(device), max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id, top_p=None, top_k=None, **sampling,
            )
        new = output[:, encoded["input_ids"].shape[1] :]
        for i, tokens in zip(chunk, new):
            replies[i] = tokenizer.decode(tokens, skip_special_tokens=True).strip()
    return replies
