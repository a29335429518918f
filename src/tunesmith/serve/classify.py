"""POST /v1/classify for sequence-classification models: a label and class probabilities per input text.

Any folder whose config.json architecture ends in ForSequenceClassification is served as a classifier; requests
naming a text-generation model get a 400 that says which endpoints it answers.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request

from tunesmith.serve.engine import Job
from tunesmith.serve.errors import APIError
from tunesmith.serve.schemas import ClassifyRequest

router = APIRouter()


def run_classification(batch: list, metrics) -> None:
    """One forward pass over every text of every job in `batch`; softmax over the classes."""
    import torch

    served = batch[0].served
    texts = [text for job in batch for text in job.work]
    encoded = served.tokenizer.batch(texts)
    device = next(served.model.parameters()).device
    if served.adapter is not None:
        served.model.set_adapter(served.adapter)
    started = time.perf_counter()
    with torch.inference_mode():
        logits = served.model(**encoded.to(device)).logits.float().cpu()
    metrics.observe_batch(served.name, len(texts), int(encoded["attention_mask"].sum()), 0,
                          time.perf_counter() - started)
    results = [_scores(served.labels, row) for row in logits.tolist()]
    for job in batch:
        mine, results = results[: len(job.work)], results[len(job.work) :]
        job.send("done", mine)


def _scores(labels: tuple[str, ...], logits: list[float]) -> dict:
    """The most likely label with its probability, and every label's; a one-output model (a reward model)
    returns its raw score, which a softmax would flatten to 1."""
    import math

    if len(logits) == 1:
        return {"label": labels[0], "score": logits[0], "scores": {labels[0]: logits[0]}}
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    probabilities = [e / sum(exps) for e in exps]
    best = probabilities.index(max(probabilities))
    return {"label": labels[best], "score": probabilities[best], "scores": dict(zip(labels, probabilities))}


@router.post("/v1/classify")
async def classify(body: ClassifyRequest, request: Request):
    state = request.app.state.serve
    served = state.pool.get(body.model, "classify")
    if len(body.input) > state.settings.max_batch:
        raise APIError(400, f"at most {state.settings.max_batch} inputs per request", param="input")
    lengths = [len(served.tokenizer.encode(text, special=True)) for text in body.input]
    if max(lengths) > served.context_length:
        raise APIError(400, f"input {lengths.index(max(lengths))} is {max(lengths)} tokens; the model reads at most "
                            f"{served.context_length}", param="input", code="context_length_exceeded")
    job = Job(served, "classify", list(body.input), False, asyncio.get_running_loop())
    state.submit(job)
    results = await state.wait(job)
    data = [{"index": i, "object": "classification", **result} for i, result in enumerate(results)]
    usage = {"prompt_tokens": sum(lengths), "total_tokens": sum(lengths)}
    return {"object": "list", "model": served.name, "data": data, "usage": usage}
