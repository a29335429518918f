"""Batched text generation for the worker: left-padded prompts, per-row stop strings, token budgets and streaming."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Generation:
    """One request's generation work: its prompts as token ids and how to sample."""

    prompts: tuple[tuple[int, ...], ...]
    n: int
    max_tokens: int
    temperature: float
    top_p: float
    stops: tuple[str, ...]
    seed: int | None
    strip: bool  # chat replies drop surrounding whitespace, as `tunesmith chat` does

    @property
    def rows(self) -> int:
        return len(self.prompts) * self.n

    def sampling_key(self) -> tuple:
        """Jobs with equal keys can share a batch; stop strings and budgets are per row, so they need not match."""
        if self.temperature == 0:
            return ("greedy",)
        # A seeded request runs alone: otherwise its samples would depend on what else was in the batch.
        return ("sample", self.temperature, self.top_p, None if self.seed is None else id(self))


@dataclass
class Choice:
    index: int
    text: str
    finish_reason: str  # "stop" (end of turn or a stop string), "length" (max_tokens) or "cancelled"
    tokens: int


@dataclass
class Completion:
    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters must wait: the start of a possible stop string, or half a UTF-8 character."""
    hold = len(text) - len(text.rstrip("\ufffd"))
    for stop in stops:
        hold = max(hold, next((k for k in range(min(len(stop) - 1, len(text)), 0, -1) if text.endswith(stop[:k])), 0))
    return hold


class RowTracker:
    """One generated sequence: its tokens, the text it shows so far, and whether (and why) it stopped."""

    def __init__(self, decode: Callable, work: Generation, eos_ids: tuple[int, ...],
                 on_text: Callable[[str], None] | None, cancelled: Callable[[], bool]):
        self.decode, self.work, self.eos_ids = decode, work, eos_ids
        self.on_text, self.cancelled = on_text, cancelled
        self.tokens: list[int] = []
        self.text, self.sent, self.finish_reason = "", 0, None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def add(self, token: int) -> None:
        if self.done:
            return  # generate keeps padding finished rows until the whole batch stops
        if self.cancelled():
            return self.finish("cancelled")
        if token in self.eos_ids:
            return self.finish("stop")
        self.tokens.append(token)
        self.text = self.decode(self.tokens)
        cut = min((i for i in (self.text.find(s) for s in self.work.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.text = self.text[:cut]
            return self.finish("stop")
        if len(self.tokens) >= self.work.max_tokens:
            return self.finish("length")
        self._emit(self.visible(final=False))

    def finish(self, reason: str) -> None:
        self.finish_reason = reason
        self._emit(self.visible(final=True))

    def visible(self, final: bool) -> str:
        text = self.text.lstrip() if self.work.strip else self.text
        if final:
            return text.rstrip() if self.work.strip else text
        shown = text[: len(text) - held_back(text, self.work.stops)]
        # Trailing spaces wait too: if the reply ends here they are stripped, so they must not be sent yet.
        return shown.rstrip() if self.work.strip else shown

    def _emit(self, visible: str) -> None:
        if self.on_text is not None and len(visible) > self.sent:
            self.on_text(visible[self.sent :])
            self.sent = len(visible)


def rows_observer(trackers: list[RowTracker]):
    """A stopping criterion fed every new token: transformers calls it once per step, so it tracks text, stop
    strings and each row's own token budget, and tells generate which rows are finished."""
    import torch
    from transformers import StoppingCriteria

    class RowsObserver(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            for tracker, token in zip(trackers, input_ids[:, -1].tolist()):
                tracker.add(token)
            return torch.tensor([t.done for t in trackers], dtype=torch.bool, device=input_ids.device)

    return RowsObserver()


def left_pad(prompts: list[tuple[int, ...]], pad_id: int, device):
    """(input_ids, attention_mask) with prompts aligned on the right, where generation continues."""
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def sampling_arguments(work: Generation) -> dict:
    # top_k=None: OpenAI's API has no top-k, and transformers would otherwise apply its default of 50.
    if work.temperature == 0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    return {"do_sample": True, "temperature": work.temperature, "top_p": work.top_p, "top_k": None}


def run_generation(batch: list, metrics) -> None:
    """Generate for every row of every job in `batch` at once and send each job its deltas and result."""
    import torch
    from transformers import StoppingCriteriaList

    served, first = batch[0].served, batch[0].work
    prompts, trackers, owners = [], [], []
    for job in batch:
        for index in range(job.work.rows):
            prompts.append(job.work.prompts[index // job.work.n])
            on_text = (lambda text, job=job, index=index: job.send("delta", index, text)) if job.stream else None
            trackers.append(RowTracker(served.tokenizer.decode, job.work, served.eos_ids, on_text,
                                       lambda job=job: job.cancelled))
            owners.append((job, index))
    device = next(served.model.parameters()).device
    input_ids, attention_mask = left_pad(prompts, served.tokenizer.pad_id, device)
    if served.adapter is not None:
        served.model.set_adapter(served.adapter)
    if first.seed is not None and first.temperature > 0:
        torch.manual_seed(first.seed)
    started = time.perf_counter()
    with torch.inference_mode():
        served.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max(t.work.max_tokens for t in trackers),
            stopping_criteria=StoppingCriteriaList([rows_observer(trackers)]), pad_token_id=served.tokenizer.pad_id,
            eos_token_id=list(served.eos_ids), **sampling_arguments(first),
        )
    seconds = time.perf_counter() - started
    for tracker in trackers:
        if not tracker.done:  # the batch hit the largest budget before this row stopped
            tracker.finish("length")
    deliver(batch, trackers, owners)
    metrics.observe_batch(served.name, len(prompts), sum(map(len, prompts)), sum(len(t.tokens) for t in trackers),
                          seconds)


def deliver(batch: list, trackers: list[RowTracker], owners: list) -> None:
    choices: dict[int, list[Choice]] = {id(job): [] for job in batch}
    for tracker, (job, index) in zip(trackers, owners):
        choices[id(job)].append(Choice(index, tracker.visible(final=True), tracker.finish_reason, len(tracker.tokens)))
    for job in batch:
        own = choices[id(job)]
        job.send("done", Completion(own, sum(map(len, job.work.prompts)), sum(c.tokens for c in own)))
