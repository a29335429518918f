"""Padding-free batches for causal-LM training: a batch's examples joined into one row, attention kept inside each.

Random batches of chat examples are about a quarter padding at batch 8, and the usual stack also spends the
vocabulary projection on every position although most carry no loss. Here:

- transformers' `DataCollatorWithFlattening` joins the batch into one row with positions restarting per example and
  the sequence boundaries (`cu_seq_lens_*`) that flash-attention kernels read;
- attention `tunesmith_varlen` (registered with transformers' `AttentionInterface`) runs causal SDPA on each example
  separately from those boundaries, so no token sees another example and no work goes to a block-diagonal mask;
  without boundaries (evaluation with padding, generation) it is transformers' SDPA unchanged;
- a prefix every example of the batch begins with and has no label in (the system prompt, a tool listing: 80% of a
  tool-calling row) is computed once per batch: the row holds it once, then each example's rest, and each rest
  attends to the prefix and to itself (`shared_prefix_length`). Loss and gradients are the unshared row's (tested);
  only dropout inside the prefix is drawn once for the batch instead of once per example;
- the collator adds a boolean `logits_to_keep` (a model forward argument), so the LM head projects only the
  positions whose next token carries loss, and `label_loss` scores those; where the head is a plain projection,
  head_loss.py goes further and projects those positions in chunks inside the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

VARLEN = "tunesmith_varlen"
IGNORE = -100
MIN_SHARED = 16  # tokens: a shorter common prefix saves less than its masks cost


def varlen_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None,
                     cu_seq_lens_q=None, shared_prefix_length=0, **kwargs):
    """Causal attention per example of a flattened row; (batch, seq, heads, dim) like transformers' SDPA. With a
    shared prefix the row's first piece is that prefix and every later piece attends to it, then to itself."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if cu_seq_lens_q is None or query.shape[0] != 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    bounds = cu_seq_lens_q.tolist()
    lengths = [e - s for s, e in zip(bounds[:-1], bounds[1:])]
    gqa = query.shape[1] != key.shape[1]
    # split (not indexing): its backward joins the pieces' gradients once instead of adding a full-size zero-padded
    # gradient per example
    pieces = list(zip(*(t.split(lengths, dim=2) for t in (query, key, value))))
    sdpa = {"dropout_p": dropout, "scale": scaling, "enable_gqa": gqa}
    if not shared_prefix_length:
        parts = [F.scaled_dot_product_attention(q, k, v, is_causal=True, **sdpa) for q, k, v in pieces]
    else:
        parts = [_after_prefix(piece, pieces[0], **sdpa) if i else
                 F.scaled_dot_product_attention(*piece, is_causal=True, **sdpa) for i, piece in enumerate(pieces)]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


def _after_prefix(piece, prefix, **sdpa):
    """Causal attention of one example's rest over the shared prefix's keys and values, then its own."""
    q, k, v = piece
    _, prefix_k, prefix_v = prefix
    length, shared = q.shape[2], prefix_k.shape[2]
    allowed = torch.ones(length, shared + length, dtype=torch.bool, device=q.device).tril_(shared)
    return F.scaled_dot_product_attention(q, torch.cat([prefix_k, k], dim=2), torch.cat([prefix_v, v], dim=2),
                                          attn_mask=allowed, **sdpa)


def register_varlen_attention() -> None:
    """Make `tunesmith_varlen` a valid attention implementation; its masks are SDPA's (used only without bounds)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(VARLEN, varlen_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(VARLEN, sdpa_mask)


def language_model(model):
    """The transformers model under a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def use_varlen_attention(model) -> bool:
    """Switch a decoder to per-example attention; False when its attention cannot be swapped (then pad instead)."""
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and peft_config.is_prompt_learning:
        return False  # virtual tokens are prepended to the row, which would shift every example's boundaries
    inner = language_model(model)
    if getattr(inner.config, "is_encoder_decoder", False) or not getattr(inner, "_supports_attention_backend", False):
        return False
    register_varlen_attention()
    try:
        inner.set_attn_implementation(VARLEN)
    except (ValueError, ImportError):
        return False
    return inner.config._attn_implementation == VARLEN


def _first_label(labels) -> int:
    return next((i for i, label in enumerate(labels) if label != IGNORE), len(labels))


def shared_prefix_length(features: list[dict]) -> int:
    """How many leading tokens every example of the batch has in common, short of the token before its first label
    (so the prefix predicts nothing) and of its last token; 0 under MIN_SHARED or for a single example."""
    if len(features) < 2:
        return 0
    rows = [list(f["input_ids"]) for f in features]
    limit = min(min(len(r) - 1, _first_label(f["labels"]) - 1) for r, f in zip(rows, features))
    length = 0
    while length < limit and all(r[length] == rows[0][length] for r in rows[1:]):
        length += 1
    return length if length >= MIN_SHARED else 0


def shared_prefix_row(features: list[dict], shared: int) -> dict:
    """The batch as one row: the shared prefix once, then each example without it; positions continue from the
    prefix in each example, and the boundaries mark the prefix and each rest."""
    rests = [(list(f["input_ids"])[shared:], list(f["labels"])[shared:]) for f in features]
    ids = list(features[0]["input_ids"])[:shared] + [t for r, _ in rests for t in r]
    labels = [IGNORE] * shared + [t for _, r in rests for t in r]
    positions = list(range(shared)) + [p for r, _ in rests for p in range(shared, shared + len(r))]
    bounds = torch.tensor([0, shared, *(len(r) for r, _ in rests)], dtype=torch.int32).cumsum(0, dtype=torch.int32)
    longest = max(shared, *(len(r) for r, _ in rests))
    return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions]), "cu_seq_lens_q": bounds, "cu_seq_lens_k": bounds,
            "max_length_q": longest, "max_length_k": longest, "shared_prefix_length": shared}


class PaddingFreeCollator:
    """One row per batch (transformers' flattening collator, or the shared-prefix row when the batch's examples
    begin alike and `share_prefix`) plus `logits_to_keep`: positions whose next label counts, or none at all when
    the loss projects the hidden states itself (`head_in_loss`, fast/head_loss.py)."""

    def __init__(self, head_in_loss: bool = False, share_prefix: bool = True):
        from transformers import DataCollatorWithFlattening

        self.flatten = DataCollatorWithFlattening(return_flash_attn_kwargs=True, separator_id=IGNORE)
        self.head_in_loss = head_in_loss
        self.share_prefix = share_prefix

    def __call__(self, features: list[dict]) -> dict:
        shared = shared_prefix_length(features) if self.share_prefix else 0
        if shared:
            batch = shared_prefix_row(features, shared)
        else:
            batch = self.flatten([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
        keep = torch.zeros_like(batch["labels"], dtype=torch.bool)
        if not self.head_in_loss:
            keep[:, :-1] = batch["labels"][:, 1:] != IGNORE
        batch["logits_to_keep"] = keep
        return batch


def label_loss(outputs, labels, num_items_in_batch=None):
    """Cross-entropy of the kept logits (one row per position whose next label counts) against those labels,
    summed and divided by the labelled tokens of the whole optimizer step, as transformers' own causal-LM loss."""
    targets = labels[:, 1:]
    targets = targets[targets != IGNORE]
    logits = outputs.logits.reshape(-1, outputs.logits.shape[-1])
    total = F.cross_entropy(logits.float(), targets.to(logits.device), reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else targets.numel()
    return total / torch.as_tensor(count, device=total.device).clamp(min=1)
