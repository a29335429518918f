"""Response bodies in OpenAI's shapes: chat.completion / text_completion, their stream chunks, and usage."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from tunesmith.serve.tool_calls import ToolMode, reply_message


@dataclass(frozen=True)
class Meta:
    chat: bool
    model: str
    tools: ToolMode = ToolMode()
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self):
        if not self.id:
            object.__setattr__(self, "id", f"{'chatcmpl' if self.chat else 'cmpl'}-{uuid.uuid4().hex[:24]}")

    def envelope(self, kind: str, choices: list[dict]) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model, "choices": choices,
                "system_fingerprint": None}


def usage(completion) -> dict:
    return {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens}


def full_response(meta: Meta, completion) -> dict:
    if meta.chat:
        choices = [{"index": c.index, **dict(zip(("message", "finish_reason"),
                                                  reply_message(meta.tools, c.text, c.finish_reason))),
                    "logprobs": None} for c in completion.choices]
        return {**meta.envelope("chat.completion", choices), "usage": usage(completion)}
    choices = [{"index": c.index, "text": c.text, "logprobs": None, "finish_reason": c.finish_reason}
               for c in completion.choices]
    return {**meta.envelope("text_completion", choices), "usage": usage(completion)}


def chunk(meta: Meta, index: int, text: str | None = None, finish_reason: str | None = None,
          opening: bool = False, tool_calls: list[dict] | None = None) -> dict:
    if not meta.chat:
        choice = {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        return meta.envelope("text_completion", [choice])
    delta = {"role": "assistant", "content": ""} if opening else {} if text is None else {"content": text}
    if tool_calls:
        delta = {"tool_calls": tool_calls}
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return meta.envelope("chat.completion.chunk", [choice])


def usage_chunk(meta: Meta, completion) -> dict:
    kind = "chat.completion.chunk" if meta.chat else "text_completion"
    return {**meta.envelope(kind, []), "usage": usage(completion)}


def sse(body: dict | str) -> str:
    """One server-sent event."""
    return f"data: {body if isinstance(body, str) else json.dumps(body)}\n\n"
