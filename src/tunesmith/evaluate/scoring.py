"""Forward passes that score text with a model: log-probabilities of labelled tokens, class probabilities,
reward scores, and greedy continuations as token ids. Batched; every function leaves the model in eval mode."""

from __future__ import annotations

from tunesmith.data.tokenize import IGNORE
from tunesmith.objectives.classification import tokenizer_args


def device_of(model):
    return next(model.parameters()).device


def _padded(rows: list[dict], pad_id: int, side: str = "right"):
    """input_ids, attention_mask and labels tensors for rows of {input_ids, labels?}."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        span = slice(width - n, width) if side == "left" else slice(0, n)
        ids[i, span] = torch.tensor(row["input_ids"])
        mask[i, span] = 1
        labels[i, span] = torch.tensor(row.get("labels", row["input_ids"]))
    return ids, mask, labels


# Most float32 logits one forward pass may hold (2**27 = 512 MB): a model returns logits for every position, so a
# batch of long rows with a large vocabulary would otherwise take gigabytes.
LOGIT_BUDGET = 2**27


def batches(rows: list[dict], batch_size: int, vocab_size: int) -> list[list[dict]]:
    """Consecutive batches of at most batch_size rows whose padded logits fit LOGIT_BUDGET (one row at least)."""
    out, current, longest = [], [], 0
    for row in rows:
        width = max(longest, len(row["input_ids"]))
        if current and (len(current) == batch_size or (len(current) + 1) * width * vocab_size > LOGIT_BUDGET):
            out.append(current)
            current, width = [], len(row["input_ids"])
        current.append(row)
        longest = width
    return out + ([current] if current else [])


def vocab_size(model) -> int:
    return model.get_output_embeddings().weight.shape[0]


def labelled_logprobs(model, rows: list[dict], pad_id: int) -> list[tuple]:
    """For one batch of causal-LM rows: per row, (log-probabilities over the vocabulary at each position that predicts
    a labelled token [n, vocab], those tokens [n]). Float32 whatever the model's dtype, so sums stay exact enough."""
    import torch

    model.eval()
    ids, mask, labels = _padded(rows, pad_id)
    device = device_of(model)
    with torch.inference_mode():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logits = logits[:, -ids.shape[1] :]  # prompt tuning puts its virtual tokens' logits first
    out = []
    for i in range(len(rows)):
        targets = labels[i, 1:].to(device)
        keep = targets != IGNORE
        out.append((torch.log_softmax(logits[i, :-1][keep], dim=-1), targets[keep]))
    return out


def label_nll(model, rows: list[dict], pad_id: int, batch_size: int = 8) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, labelled tokens) per row; perplexity = exp(sum nll / sum tokens)."""
    scores = []
    for batch in batches(rows, batch_size, vocab_size(model)):
        for logprobs, targets in labelled_logprobs(model, batch, pad_id):
            picked = logprobs.gather(1, targets[:, None]).squeeze(1)
            scores.append((float(-picked.sum()), int(targets.numel())))
    return scores


def class_probabilities(model, tokenizer, texts: list, batch_size: int = 16) -> list[list[float]]:
    """Softmax over a sequence classifier's labels, per text (or (text, text_pair) tuple)."""
    import torch

    model.eval()
    probabilities = []
    for start in range(0, len(texts), batch_size):
        args = tokenizer_args(tokenizer, texts[start : start + batch_size])
        batch = tokenizer(*args, return_tensors="pt", padding=True, truncation=True)
        with torch.inference_mode():
            logits = model(**batch.to(device_of(model))).logits.float()
        probabilities += torch.softmax(logits, dim=-1).tolist()
    return probabilities


def reward_scores(model, tokenizer, texts: list[str], batch_size: int = 16) -> list[float]:
    """A reward model's single output per (rendered) text."""
    import torch

    model.eval()
    scores = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True,
                          add_special_tokens=False)
        with torch.inference_mode():
            scores += model(**batch.to(device_of(model))).logits.float()[:, 0].tolist()
    return scores


def greedy_continuations(model, tokenizer, prompts: list[list[int]], max_new_tokens: int,
                         batch_size: int = 16) -> list[list[int]]:
    """Greedy continuation token ids of each prompt, cut after the first end-of-sequence token (kept: predicting
    the end is part of what the model does)."""
    import torch

    model.eval()
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    continuations = []
    for start in range(0, len(prompts), batch_size):
        ids, mask, _ = _padded([{"input_ids": p} for p in prompts[start : start + batch_size]], pad, side="left")
        with torch.inference_mode():
            output = model.generate(input_ids=ids.to(device_of(model)), attention_mask=mask.to(device_of(model)),
                                    max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                                    eos_token_id=eos, top_p=None, top_k=None, temperature=None)
        for row in output[:, ids.shape[1] :].tolist():
            continuations.append(row[: row.index(eos) + 1] if eos in row else row)
    return continuations
