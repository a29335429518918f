"""The worker's pieces without a server: batch grouping, queue limits, stop strings and streamed text."""

import asyncio

import pytest

from tunesmith.serve.engine import Job, JobQueue, QueueFull
from tunesmith.serve.generation import Generation, RowTracker, held_back


class Served:
    def __init__(self, model, adapter=None):
        self.model, self.adapter = model, adapter


def work(temperature=0.0, n=1, prompts=((1, 2),), seed=None, stops=(), max_tokens=16, strip=True):
    return Generation(prompts, n, max_tokens, temperature, 1.0, stops, seed, strip)


def job(served, generation):
    return Job(served, "generate", generation, False, asyncio.new_event_loop())


def test_batches_group_same_model_adapter_and_sampling_in_arrival_order():
    base, other = object(), object()
    a, b = Served(base, "adapter_0"), Served(base, "adapter_1")
    queue = JobQueue(capacity=10)
    jobs = [job(a, work()), job(b, work()), job(a, work(n=2)), job(a, work(temperature=0.7)),
            job(Served(other), work()), job(a, work(stops=("}",), max_tokens=3))]
    for j in jobs:
        queue.submit(j)
    assert queue.take_batch(8, 0) == [jobs[0], jobs[2], jobs[5]]  # budgets and stops may differ within a batch
    assert queue.take_batch(8, 0) == [jobs[1]]
    assert queue.take_batch(8, 0) == [jobs[3]]
    assert queue.take_batch(8, 0) == [jobs[4]]
    assert queue.take_batch(8, 0) == []


def test_batches_respect_the_row_limit_and_skip_cancelled_jobs():
    served = Served(object())
    queue = JobQueue(capacity=10)
    jobs = [job(served, work(n=3)) for _ in range(4)]
    jobs[1].cancelled = True
    for j in jobs:
        queue.submit(j)
    assert queue.take_batch(7, 0) == [jobs[0], jobs[2]]
    assert queue.take_batch(7, 0) == [jobs[3]]


def test_seeded_sampling_runs_alone_and_a_full_queue_refuses():
    served = Served(object())
    queue = JobQueue(capacity=2)
    seeded = [job(served, work(temperature=1.0, seed=3)) for _ in range(2)]
    for j in seeded:
        queue.submit(j)
    with pytest.raises(QueueFull):
        queue.submit(job(served, work()))
    assert queue.take_batch(8, 0) == [seeded[0]]


def decode_with(pieces):
    return lambda ids: "".join(pieces[i] for i in ids)


def track(pieces, tokens, eos=(99,), **kwargs):
    sent = []
    tracker = RowTracker(decode_with(pieces), work(**kwargs), eos, sent.append, lambda: False)
    for token in tokens:
        tracker.add(token)
    return tracker, sent


def test_stop_string_split_across_tokens_is_never_streamed():
    pieces = {0: "Hello", 1: " wor", 2: "ld", 3: " EN", 4: "D tail"}
    tracker, sent = track(pieces, [0, 1, 2, 3, 4], stops=("END",))
    assert tracker.finish_reason == "stop" and tracker.visible(final=True) == "Hello world"
    assert "".join(sent) == "Hello world" and not any("E" in piece for piece in sent)


def test_streamed_pieces_add_up_to_the_final_text():
    pieces = {0: "  {", 1: '"a"', 2: ": ", 3: "1}", 4: "  "}
    tracker, sent = track(pieces, [0, 1, 2, 3, 4, 99])
    assert tracker.finish_reason == "stop" and "".join(sent) == tracker.visible(final=True) == '{"a": 1}'


def test_token_budget_and_half_characters():
    # decode() of a token sequence ending inside a multi-byte character shows U+FFFD until the rest arrives
    decoded = {(0,): "caf", (0, 1): "caf\ufffd", (0, 1, 2): "café!"}
    sent = []
    tracker = RowTracker(lambda ids: decoded[tuple(ids)], work(max_tokens=3, strip=False), (99,), sent.append,
                         lambda: False)
    for token in [0, 1, 2, 0, 0]:
        tracker.add(token)
    assert tracker.finish_reason == "length" and len(tracker.tokens) == 3
    assert sent == ["caf", "é!"]  # the half character waited for the token that completes it
    assert held_back("ab\ufffd", ()) == 1 and held_back("x EN", ("END",)) == 2 and held_back("text", ("xyz",)) == 0
