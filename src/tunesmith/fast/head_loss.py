"""The LM head and the cross-entropy as one autograd function, a chunk of positions at a time (padding-free SFT).

The padding-free path projects only the positions whose next token carries loss, but each of those positions' logits
is still vocabulary-wide (49,152 for SmolLM2): the fp32 log-softmax kept for backward and two fp32 gradients of that
size in backward came to about 12 x V bytes per labelled position. Here the model's own head projects nothing (the
collator sends an all-False `logits_to_keep`), a forward hook on the decoder hands its last hidden state to the
loss, and the loss projects CHUNK positions at a time, keeping only each position's log-sum-exp; backward projects
each chunk again to form its gradient. That costs one more head projection of the labelled positions. Used only where
a probe at start-up shows the decoder's last hidden state times the head's weight is the model's own logits (no
soft-capping or scaling after the head); tests check loss and gradients equal the unchunked path's.
"""

from __future__ import annotations

import torch
from torch import nn

IGNORE = -100
CHUNK = 512  # positions projected at once: 512 x 49,152 fp32 logits = 96 MiB


class _HeadCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of hidden @ weight.T against targets."""

    @staticmethod
    def forward(ctx, hidden, weight, targets):
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        lse = torch.empty(len(hidden), dtype=torch.float32, device=hidden.device)
        for start in range(0, len(hidden), CHUNK):
            part = slice(start, start + CHUNK)
            logits = (hidden[part] @ weight.T).float()
            lse[part] = torch.logsumexp(logits, dim=-1)
            total += lse[part].sum() - logits.gather(1, targets[part, None]).sum()
        ctx.save_for_backward(hidden, weight, targets, lse)
        return total

    @staticmethod
    def backward(ctx, grad):
        hidden, weight, targets, lse = ctx.saved_tensors
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        for start in range(0, len(hidden), CHUNK):
            part = slice(start, start + CHUNK)
            rows = hidden[part]
            probs = (rows @ weight.T).float().sub_(lse[part, None]).exp_()  # softmax, from the kept log-sum-exp
            probs[torch.arange(len(rows), device=rows.device), targets[part]] -= 1
            probs = probs.mul_(grad).to(hidden.dtype)
            if grad_hidden is not None:
                grad_hidden[part] = probs @ weight
            if grad_weight is not None:
                grad_weight.addmm_(probs.T, rows)
        return grad_hidden, grad_weight, None


def head_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return _HeadCrossEntropy.apply(hidden, weight, targets)


class HeadLoss:
    """A Trainer `compute_loss_func`: the chunked head + loss on the hidden state the decoder has just produced,
    divided by the labelled tokens of the whole optimizer step, as transformers' own causal-LM loss."""

    def __init__(self, inner):
        self.weight = inner.get_output_embeddings().weight
        self.hidden = None
        inner.get_decoder().register_forward_hook(self._keep)

    def _keep(self, module, args, output):
        self.hidden = output[0]

    def __call__(self, outputs, labels, num_items_in_batch=None):
        hidden, self.hidden = self.hidden, None
        targets = labels[:, 1:].to(hidden.device)
        keep = targets != IGNORE
        total = head_cross_entropy(hidden[:, :-1][keep], self.weight, targets[keep])
        count = num_items_in_batch if num_items_in_batch is not None else keep.sum()
        return total / torch.as_tensor(count, device=total.device).clamp(min=1)


def _head_is_plain(inner) -> bool:
    """The model's logits are exactly its decoder's last hidden state times the head weight (checked on 6 tokens)."""
    head, decoder = inner.get_output_embeddings(), getattr(inner, "get_decoder", lambda: None)()
    if type(head) is not nn.Linear or head.bias is not None or decoder is None:
        return False
    ids = torch.arange(6, device=head.weight.device)[None] % head.weight.shape[0]
    with torch.no_grad():
        logits = inner(input_ids=ids).logits
        mine = decoder(input_ids=ids)[0] @ head.weight.T
    return logits.shape == mine.shape and torch.allclose(logits.float(), mine.float(), atol=1e-4, rtol=1e-4)


def chunked_head_loss(inner) -> HeadLoss | None:
    """The chunked loss for the transformers model `inner`, or None where its head is not a plain projection."""
    was_training = inner.training
    plain = _head_is_plain(inner.eval())
    inner.train(was_training)
    return HeadLoss(inner) if plain else None
