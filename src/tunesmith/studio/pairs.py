"""Candidate answers for labelling, generated a few pairs ahead of the person labelling, on a background thread.

Each prompt gets two answers: from two models (greedy unless the task sets a temperature), or two samples from one
model. Which answer shows on the left is drawn at random per prompt, so a habit of picking one side does not
favour one model.
"""

from __future__ import annotations

import logging
import random
import threading

from tunesmith.errors import UserError
from tunesmith.studio.models import ModelCache, ModelRef

log = logging.getLogger("tunesmith.studio")
AHEAD = 4  # pairs kept ready beyond the one on screen


def candidate_answers(task: dict, prompts: list[dict], models: ModelCache) -> list[tuple[int, str, str, str, str]]:
    """(prompt id, left answer, right answer, left model, right model) for each prompt."""
    conversations = [p["messages"] for p in prompts]
    seed = task["seed"] * 100_003 + prompts[0]["position"]  # the same batch gives the same samples when redone
    first, second = ModelRef.parse(task["model_a"]), ModelRef.parse(task["model_b"])
    budget, temperature = task["max_new_tokens"], task["temperature"]
    if first == second:
        doubled = [c for c in conversations for _ in range(2)]
        replies = models.answer(first, doubled, budget, temperature, seed)
        answers = list(zip(replies[::2], replies[1::2]))
        sources = (f"{first} (sample 1)", f"{first} (sample 2)")
    else:
        answers = list(zip(models.answer(first, conversations, budget, temperature, seed),
                           models.answer(second, conversations, budget, temperature, seed)))
        sources = (str(first), str(second))
    rows = []
    for prompt, (one, two) in zip(prompts, answers):
        swap = random.Random(f"{task['seed']}:{prompt['position']}").random() < 0.5
        left, right = ((two, sources[1]), (one, sources[0])) if swap else ((one, sources[0]), (two, sources[1]))
        rows.append((prompt["id"], left[0], right[0], left[1], right[1]))
    return rows


class PairMaker:
    """Keeps AHEAD pairs ready for every task someone is labelling; `want(task)` wakes it."""

    def __init__(self, store, models: ModelCache, batch: int = AHEAD):
        self.store, self.models, self.batch = store, models, batch
        self._wanted: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tunesmith-studio-pairs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)  # a batch still generating is dropped; its prompts get answers next time

    def want(self, task_id: int) -> None:
        with self._lock:
            self._wanted.add(task_id)
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            with self._lock:  # a task wanted again while it fills is filled again on the next round
                wanted, self._wanted = self._wanted, set()
            for task_id in sorted(wanted):
                if self._stopping.is_set():
                    return
                self._fill(task_id)

    def _fill(self, task_id: int) -> None:
        task = self.store.task(task_id)
        if task is None or task["error"]:
            return
        while self.store.waiting_pairs(task_id) < AHEAD and not self._stopping.is_set():
            prompts = self.store.prompts_without_answers(task_id, self.batch)
            if not prompts:
                break
            try:
                self.store.save_answers(candidate_answers(task, prompts, self.models))
            except UserError as exc:
                self.store.set_task_error(task_id, str(exc))
                break
            except Exception as exc:  # a model that fails must show on the page, not silently stall labelling
                log.exception("generating candidates for task %s failed", task_id)
                self.store.set_task_error(task_id, f"generation failed: {type(exc).__name__}: {exc}")
                break
