"""What the server holds: served models by name, several of which may share one base model in memory."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tunesmith.data.tokenize import render
from tunesmith.data.tools import with_system
from tunesmith.errors import UserError
from tunesmith.objectives.classification import encode, tokenizer_args
from tunesmith.serve.errors import APIError

TASK_ROUTES = {"generate": "/v1/chat/completions or /v1/completions", "classify": "/v1/classify"}


class SafeTokenizer:
    """A tokenizer shared by the request handlers (encoding) and the model worker (decoding).

    The Rust tokenizer raises "Already borrowed" when two threads use it at once and one changes its padding or
    truncation settings, so every call goes through one lock; each call takes microseconds.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._lock = threading.Lock()

    def encode(self, text, special: bool) -> list[int]:
        """Token ids of a text, or of a (text, text_pair) tuple with the tokenizer's separator."""
        with self._lock:
            return self.tokenizer(*tokenizer_args(self.tokenizer, [text]), add_special_tokens=special)["input_ids"][0]

    def render_chat(self, messages: list[dict]) -> str:
        with self._lock:
            return render(self.tokenizer, messages, add_generation_prompt=True)

    def decode(self, ids: list[int]) -> str:
        with self._lock:
            return self.tokenizer.decode(ids, skip_special_tokens=True)

    def batch(self, texts: list):
        """Right-padded tensors of texts and/or (text, text_pair) tuples (requests batched together may mix)."""
        with self._lock:
            if not any(isinstance(t, tuple) for t in texts):
                return self.tokenizer(texts, padding=True, padding_side="right", return_tensors="pt")
            rows = [{"input_ids": ids} for ids in encode(self.tokenizer, texts)]
            self.tokenizer.padding_side = "right"
            return self.tokenizer.pad(rows, padding=True, return_tensors="pt")



@dataclass(eq=False)
class ServedModel:
    name: str  # what requests put in `model`
    task: str  # "generate" (causal LM) or "classify" (sequence classification)
    model: object  # the torch module (adapters on one base share it), or a llama.cpp / onnxruntime model
    tokenizer: SafeTokenizer
    source: str  # the run or folder it came from
    adapter: str | None = None  # PEFT adapter to activate before each batch
    system_prompt: str | None = None  # added to chat requests that bring no system message
    context_length: int = 2048
    eos_ids: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()  # classifiers: label of each output
    runner: str | None = None  # the engine's runner for this model's batches when not its task's (serve/runtimes.py)
    created: int = field(default_factory=lambda: int(time.time()))

    def chat_prompt(self, messages: list[dict]) -> str:
        if self.system_prompt and not any(m["role"] == "system" for m in messages):
            messages = with_system(messages, self.system_prompt)
        try:
            return self.tokenizer.render_chat(messages)
        except UserError as exc:
            raise APIError(400, f"model '{self.name}' cannot format chat messages: {exc.message}",
                           param="messages", code="no_chat_template") from None


class ModelPool:
    def __init__(self, models: list[ServedModel]):
        self.by_name = {m.name: m for m in models}

    def names(self) -> list[str]:
        return list(self.by_name)

    def base_models(self) -> int:
        """Distinct model weights in memory (LoRA adapters on one base count once)."""
        return len({id(m.model) for m in self.by_name.values()})

    def get(self, name: str, task: str) -> ServedModel:
        served = self.by_name.get(name)
        if served is None:
            raise APIError(404, f"the model '{name}' does not exist on this server; it serves: "
                                f"{', '.join(self.by_name)}", param="model", code="model_not_found")
        if served.task != task:
            kind = "classifier" if served.task == "classify" else "text generation model"
            raise APIError(400, f"the model '{name}' is a {kind}; use {TASK_ROUTES[served.task]}", param="model",
                           code="wrong_model_type")
        return served
