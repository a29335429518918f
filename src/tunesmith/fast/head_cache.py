"""Head-only training on cached backbone features: one frozen forward pass over the data, then only the head.

Speeds up `method.name: head` (switch: method.cache_features): every epoch after the first costs only the head's
matrix multiply; in `benchmarks/example_runs.py` smollm2-135m's head-only sentiment run took 23 s in all.

The features are what the model's own head receives, captured with a forward hook, so the trained head drops
back into the full model unchanged. A check on the first batch proves the head on cached features reproduces
the full model's logits before the cache is trusted.
"""

from __future__ import annotations

import torch

from tunesmith.models.heads import task_head


def only_head_trains(model) -> bool:
    _, head = task_head(model)
    head_params = {id(p) for p in head.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    return bool(trainable) and all(id(p) in head_params for p in trainable)


def _pool(inputs: torch.Tensor, input_ids: torch.Tensor, pad_id: int | None, how: str) -> torch.Tensor:
    if how == "as_is":
        return inputs
    if how == "first_token":
        return inputs[:, 0]
    # The last non-padding token, as transformers' decoder classification heads pick it.
    mask = (input_ids != pad_id).int() if pad_id is not None else torch.ones_like(input_ids)
    last = (torch.arange(input_ids.shape[-1]) * mask).argmax(-1)
    return inputs[torch.arange(len(inputs)), last]


def backbone_features(model, batches, pad_id: int | None) -> tuple[torch.Tensor, str]:
    """(features, pooling) for all batches; pooling is the rule under which head(features) == model logits."""
    _, head = task_head(model)
    captured = []
    hook = head.register_forward_hook(lambda module, args, output: captured.append((args[0].detach(), output)))
    features, how = [], None
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                logits = model(**batch).logits
                inputs, _ = captured.pop()
                if how is None:
                    how = _matching_pooling(head, inputs, batch["input_ids"], pad_id, logits)
                features.append(_pool(inputs, batch["input_ids"], pad_id, how))
    finally:
        hook.remove()
    return torch.cat(features), how


def _matching_pooling(head, inputs, input_ids, pad_id, logits) -> str:
    options = ["as_is"] if inputs.dim() == 2 else ["last_token", "first_token"]
    for how in options:
        with torch.no_grad():
            if torch.allclose(head(_pool(inputs, input_ids, pad_id, how)), logits, atol=1e-4):
                return how
    raise RuntimeError("cached features do not reproduce the model's logits for this architecture")


class HeadOnly(torch.nn.Module):
    """The model's own head applied to cached features, with the classification loss."""

    def __init__(self, head, weights=None):
        super().__init__()
        self.head = head
        self.weights = weights

    @classmethod
    def of(cls, model, weights=None) -> HeadOnly:
        """The head of `model` (trained in place, so saving the model saves it)."""
        return cls(task_head(model)[1], weights)

    def forward(self, features, labels=None):
        logits = self.head(features)
        out = {"logits": logits}
        if labels is not None:
            weight = None if self.weights is None else self.weights.to(logits.device)
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels, weight=weight)
        return out


def _batches(rows: list[dict], tokenizer, size: int = 32):
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    for start in range(0, len(rows), size):
        batch = collate([{"input_ids": r["input_ids"]} for r in rows[start : start + size]])
        yield dict(batch)


def feature_datasets(model, tokenizer, data) -> dict:
    """Each prepared split as the frozen backbone's features (one forward pass over the data) and labels."""
    from datasets import Dataset

    sets = {}
    for name, rows in data.tokenized.items():
        features, _ = backbone_features(model, _batches(rows, tokenizer), tokenizer.pad_token_id)
        sets[name] = Dataset.from_dict({"features": features.float().numpy(), "labels": [r["labels"] for r in rows]})
        sets[name].set_format("torch")
    return sets
