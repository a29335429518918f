"""Preference models: reward accuracy and margin, for a reward model (its score) and for a policy trained with
DPO/KTO (its log-probability of each answer, and the implicit reward beta * log(policy / base))."""

from __future__ import annotations

from tunesmith.data.tokenize import render, tokenize_chat
from tunesmith.evaluate.compare import mean, metric_row
from tunesmith.evaluate.outputs import TaskOutputs
from tunesmith.evaluate.scoring import label_nll, reward_scores


def reward_accuracy(chosen: list[float], rejected: list[float]) -> float:
    """Share of pairs whose chosen answer scores strictly higher than the rejected one."""
    return mean([float(c > r) for c, r in zip(chosen, rejected, strict=True)])


def reward_margin(chosen: list[float], rejected: list[float]) -> float:
    """Mean of chosen score minus rejected score."""
    return mean([c - r for c, r in zip(chosen, rejected, strict=True)])


def _conversation(row: dict, side: str) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in row["prompt"]] + [
        {"role": "assistant", "content": row[side]}]


def _answer_logprobs(model, tokenizer, rows: list[dict], side: str, batch_size: int) -> list[float]:
    """log p(answer | prompt) summed over the answer's tokens (and its end-of-turn), as DPO scores it."""
    encoded = [tokenize_chat(tokenizer, _conversation(row, side)) for row in rows]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return [-nll for nll, _ in label_nll(model, encoded, pad, batch_size)]


def _scores(pair, config, objective, rows: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{model: {side: per-pair score}} for the base and the fine-tuned model."""
    tokenizer, size = pair.tokenizer, config.eval.batch_size
    if objective.model_kind == "seq_cls":
        texts = {side: [render(tokenizer, _conversation(r, side)) for r in rows] for side in ("chosen", "rejected")}
        score = lambda model, side: reward_scores(model, tokenizer, texts[side], size)  # noqa: E731
    else:
        score = lambda model, side: _answer_logprobs(model, tokenizer, rows, side, size)  # noqa: E731
    with pair.base() as base:
        base_scores = {side: score(base, side) for side in ("chosen", "rejected")}
    return {"base": base_scores, "tuned": {side: score(pair.tuned, side) for side in ("chosen", "rejected")}}


def preference_task(pair, config, objective, rows: list[dict]):
    scores = _scores(pair, config, objective, rows)
    margins = {m: [c - r for c, r in zip(s["chosen"], s["rejected"])] for m, s in scores.items()}
    name = "reward" if objective.model_kind == "seq_cls" else "logprob"
    metrics = {f"{name}_accuracy": metric_row([float(x > 0) for x in margins["base"]],
                                             [float(x > 0) for x in margins["tuned"]]),
               f"{name}_margin": metric_row(margins["base"], margins["tuned"], scale="value")}
    result = {"examples": len(rows), "metrics": metrics, "samples": [
        {"prompt": r["prompt"][-1]["content"], "reference": r["chosen"], "rejected": r["rejected"],
         "base": f"margin {b:+.3f}", "tuned": f"margin {t:+.3f}"}
        for r, b, t in zip(rows, margins["base"], margins["tuned"])]}
    if objective.model_kind != "seq_cls":
        # The base's implicit reward against itself is 0 by definition, so this is the fine-tuned model's alone.
        implicit = [config.objective.beta * (t - b) for b, t in zip(margins["base"], margins["tuned"])]
        result["implicit_reward"] = {"accuracy": mean([float(x > 0) for x in implicit]), "margin": mean(implicit),
                                     "beta": config.objective.beta}
    return result, TaskOutputs("preference", [r["prompt"] for r in rows])


def preference(pair, config, objective, data, split: str):
    """Reward (or log-probability) accuracy and margin of chosen over rejected, base vs fine-tuned."""
    return preference_task(pair, config, objective, list(data.splits.get(split) or [])[: config.eval.max_examples])
