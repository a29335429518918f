"""Generate replies with the same chat template training used (load the model with tunesmith.models.saved)."""

from __future__ import annotations

from tunesmith.data.tokenize import render


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
