"""The model worker: one thread owns the models; requests wait in a bounded queue and run in batches.

A request handler wraps its work in a Job and submits it; a full queue raises QueueFull at once (the API answers 503)
instead of letting requests pile up. The worker takes the oldest job plus every waiting job that can share its batch
(same model and adapter, same sampling settings), runs them together, and reports back through the job's asyncio
queue, so handlers never block the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tunesmith.serve.errors import APIError

log = logging.getLogger("tunesmith.serve")


class QueueFull(Exception):
    """Raised by submit when `capacity` jobs are already waiting."""


@dataclass(eq=False)
class Job:
    served: object  # the ServedModel that answers it
    task: str  # "generate" or "classify": picks the runner
    work: object  # Generation for "generate", list of texts for "classify"
    stream: bool
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: bool = False  # set by the handler when its client is gone; the worker drops the job's rows

    @property
    def rows(self) -> int:
        return self.work.rows if hasattr(self.work, "rows") else len(self.work)

    def batch_key(self) -> tuple:
        sampling = self.work.sampling_key() if hasattr(self.work, "sampling_key") else ()
        return (id(self.served.model), self.served.adapter, self.task, sampling)

    def send(self, *event) -> None:
        """Hand an event to the waiting handler; safe to call from the worker thread."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the event loop is closed: the server is shutting down and nobody is listening
            pass


class JobQueue:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._jobs: deque[Job] = deque()
        self._ready = threading.Condition()

    def submit(self, job: Job) -> None:
        with self._ready:
            if len(self._jobs) >= self.capacity:
                raise QueueFull
            self._jobs.append(job)
            self._ready.notify()

    def depth(self) -> int:
        return len(self._jobs)

    def take_batch(self, max_rows: int, timeout: float) -> list[Job]:
        """The oldest live job and every later one that can join its batch, up to `max_rows` sequences."""
        with self._ready:
            if not self._jobs:
                self._ready.wait(timeout)
            live = deque(job for job in self._jobs if not job.cancelled)
            if not live:
                self._jobs = live
                return []
            batch = [live.popleft()]
            key, rows, left = batch[0].batch_key(), batch[0].rows, deque()
            for job in live:
                if job.batch_key() == key and rows + job.rows <= max_rows:
                    batch.append(job)
                    rows += job.rows
                else:
                    left.append(job)
            self._jobs = left
            return batch

    def drain(self) -> list[Job]:
        with self._ready:
            jobs, self._jobs = list(self._jobs), deque()
            return jobs


class Engine:
    """Runs batches on one background thread with `runners[task](batch, metrics)`."""

    def __init__(self, metrics, runners: dict[str, Callable], capacity: int = 64, max_batch: int = 8):
        self.metrics, self.runners, self.max_batch = metrics, runners, max_batch
        self.queue = JobQueue(capacity)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, job: Job) -> None:
        try:
            self.queue.submit(job)
        except QueueFull:
            self.metrics.rejected.inc()
            raise
        self.metrics.queue_depth.set(self.queue.depth())

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="tunesmith-model-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for job in self.queue.drain():
            job.send("error", APIError(503, "the server is shutting down", "server_error", code="shutting_down"))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            batch = self.queue.take_batch(self.max_batch, timeout=0.2)
            self.metrics.queue_depth.set(self.queue.depth())
            if batch:
                self._run(batch)

    def _run(self, batch: list[Job]) -> None:
        try:
            self.runners[batch[0].served.runner or batch[0].task](batch, self.metrics)
        except Exception:  # a bug or a model failure must answer these requests, not kill the worker
            log.exception("model worker failed on a batch of %d request(s)", len(batch))
            error = APIError(500, "the model failed on this request; the server log has the details", "server_error")
            for job in batch:
                job.send("error", error)
