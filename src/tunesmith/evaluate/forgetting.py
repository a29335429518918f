"""Forgetting check: how far the fine-tuned model drifted from its base on general prompts unrelated to the task.

The base answers each general prompt greedily; both models then score that same text. Two numbers come out:
the KL divergence KL(base || tuned) of their next-token distributions along the base's answers (0 = identical
predictions), and the perplexity of the base's own answers under the fine-tuned model relative to the base's
(1.0 = unchanged). Scoring the base's text, not each model's own, keeps both models on the same tokens.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.tokenize import IGNORE, prompt_token_ids
from tunesmith.errors import UserError
from tunesmith.evaluate.scoring import (
    batches,
    greedy_continuations,
    labelled_logprobs,
    vocab_size,
)

PROMPTS_FILE = Path(__file__).parent / "probes" / "general_prompts.txt"
MAX_PROMPT_TOKENS = 256
# Mean KL (nats per token) below each bound -> band. Chosen so "none" is rounding-level change and "large" means the
# model's general next-word choices have moved a lot; see the sentence each band prints.
BANDS = [(0.01, "none", "no measurable drift: it predicts general text as the base does"),
         (0.05, "small", "its answers to general prompts are nearly what the base would give"),
         (0.25, "moderate", "its answers to general prompts differ noticeably from the base's"),
         (float("inf"), "large", "it has moved far from the base on general prompts; a smaller learning rate, "
                                 "fewer steps, a smaller LoRA rank or general examples mixed into the training data "
                                 "would keep more of what the base knew")]


def read_prompts(path: str | Path | None = None) -> list[str]:
    """Prompts from a text file, one per line (# starts a comment); the shipped set by default."""
    source = Path(path) if path else PROMPTS_FILE
    if not source.is_file():
        raise UserError(f"eval.general_prompts: {source} not found", hint="a text file with one prompt per line")
    prompts = [line.strip() for line in source.read_text().splitlines() if line.strip()
               and not line.lstrip().startswith("#")]
    if not prompts:
        raise UserError(f"eval.general_prompts: {source} holds no prompts", hint="one prompt per line")
    return prompts


def drift(pair, prompts: list[list[int]], answers: list[list[int]], batch_size: int = 8) -> list[dict]:
    """Per prompt: summed KL(base || tuned), summed NLL of the answer under each model, top-1 changes, tokens."""

    tokenizer = pair.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [{"input_ids": p + a, "labels": [IGNORE] * len(p) + a} for p, a in zip(prompts, answers)]
    scores = []
    for batch in batches(rows, batch_size, vocab_size(pair.tuned)):
        with pair.base() as base:
            base_out = labelled_logprobs(base, batch, pad)
        for (lp_base, targets), (lp_tuned, _) in zip(base_out, labelled_logprobs(pair.tuned, batch, pad)):
            kl = (lp_base.exp() * (lp_base - lp_tuned)).sum(-1).clamp(min=0)
            pick = lambda lp: float(-lp.gather(1, targets[:, None]).sum())  # noqa: E731
            scores.append({"kl": float(kl.sum()), "nll_base": pick(lp_base), "nll_tuned": pick(lp_tuned),
                           "top1_changed": int((lp_base.argmax(-1) != lp_tuned.argmax(-1)).sum()),
                           "tokens": int(targets.numel())})
        del base_out
    return scores


def verdict(kl_per_token: float) -> tuple[str, str]:
    return next((band, sentence) for bound, band, sentence in BANDS if kl_per_token < bound)


def summarize(prompts: list[str], scores: list[dict]) -> dict:
    import math

    tokens = sum(s["tokens"] for s in scores) or 1
    kl = sum(s["kl"] for s in scores) / tokens
    ppl_base = math.exp(sum(s["nll_base"] for s in scores) / tokens)
    ppl_tuned = math.exp(min(sum(s["nll_tuned"] for s in scores) / tokens, 50.0))
    band, sentence = verdict(kl)
    return {"prompts": len(prompts), "tokens": tokens, "kl_per_token": kl,
            "perplexity_base": ppl_base, "perplexity_tuned": ppl_tuned, "perplexity_ratio": ppl_tuned / ppl_base,
            "top1_changed": sum(s["top1_changed"] for s in scores) / tokens, "verdict": band,
            "explanation": sentence}


def measure_forgetting(pair, prompts: list[str], max_new_tokens: int = 32, batch_size: int = 16,
                       shown: int = 5) -> dict:
    """{"summary": flat numbers + verdict, "per_prompt": [...], "examples": the most-drifted prompts with both
    models' answers}."""
    tokenizer = pair.tokenizer
    ids = prompt_token_ids(tokenizer, prompts, MAX_PROMPT_TOKENS)
    with pair.base() as base:
        answers = greedy_continuations(base, tokenizer, ids, max_new_tokens, batch_size)
    # Full-vocabulary log-probabilities for two models: smaller batches than generation keep that memory bounded.
    scores = drift(pair, ids, answers, min(batch_size, 8))
    per_prompt = [{"prompt": p, "kl_per_token": s["kl"] / max(s["tokens"], 1), "tokens": s["tokens"]}
                  for p, s in zip(prompts, scores)]
    worst = sorted(range(len(prompts)), key=lambda i: -per_prompt[i]["kl_per_token"])[:shown]
    tuned_answers = greedy_continuations(pair.tuned, tokenizer, [ids[i] for i in worst], max_new_tokens, batch_size)
    decode = lambda tokens: tokenizer.decode(tokens, skip_special_tokens=True).strip()  # noqa: E731
    examples = [{"prompt": prompts[i], "kl_per_token": per_prompt[i]["kl_per_token"], "base": decode(answers[i]),
                 "tuned": decode(t)} for i, t in zip(worst, tuned_answers)]
    return {"summary": {**summarize(prompts, scores), "max_new_tokens": max_new_tokens},
            "per_prompt": per_prompt, "examples": examples}
