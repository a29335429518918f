"""Function calling on /v1/chat/completions: the request's tools and history into the conversation the model was
trained on, tool_choice as a prefilled reply, and the model's text back as OpenAI `tool_calls` (whole or streamed).

tool_choice: "none" renders without the tools; "auto" (the default when tools are given) lets the model choose;
"required" starts the reply with `<tool_call>{"name": "` (with the name too when there is one tool), and a named
function with its name and `"arguments": `, so the model can only go on with a call (the form data/tools.py trains
and most tool templates use). The arguments are still the model's: there is no grammar-constrained decoding, so a
forced call that does not parse comes back as text, prefill included.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from tunesmith.data.formats import check_messages
from tunesmith.data.tools import check_tools, with_tools
from tunesmith.errors import UserError
from tunesmith.metrics.tools import parse_reply
from tunesmith.serve.errors import APIError

OPENING = "<tool_call>"


@dataclass(frozen=True)
class ToolMode:
    on: bool = False  # the model may call tools: parse its replies for calls
    prefix: str = ""  # what the reply was started with (tool_choice required or named)


def conversation(body) -> tuple[list[dict], ToolMode]:
    """The request's messages in the stored form, carrying its tools unless tool_choice is "none"."""
    raw = [m.openai() for m in body.messages]
    choice = body.tool_choice or ("auto" if body.tools else "none")
    try:
        messages = check_messages(raw, "request", "messages", final_assistant=False)
        tools = check_tools([t.model_dump(exclude_none=True) for t in body.tools], "request", "tools") \
            if body.tools else None
    except UserError as exc:
        raise APIError(400, exc.message.removeprefix("request: "), param="messages") from None
    if choice == "none" or not tools:
        if choice not in ("none", "auto"):
            raise APIError(400, "tool_choice asks for a call but the request has no tools", param="tool_choice")
        return messages, ToolMode()
    return with_tools(messages, tools), ToolMode(True, _prefill(choice, tools))


def _prefill(choice, tools: list[dict]) -> str:
    if choice == "auto":
        return ""
    names = [t["function"]["name"] for t in tools]
    if choice == "required" and len(names) > 1:
        return OPENING + '{"name": "'
    name = names[0] if choice == "required" else choice.function.name
    if name not in names:
        raise APIError(400, f"tool_choice names '{name}', which is not one of the request's tools",
                       param="tool_choice")
    return OPENING + json.dumps({"name": name})[:-1] + ', "arguments": '


def reply_message(mode: ToolMode, text: str, finish_reason: str) -> tuple[dict, str]:
    """(the choice's message, its finish_reason): calls in OpenAI's shape when the reply made any."""
    if not mode.on:
        return {"role": "assistant", "content": text}, finish_reason
    parsed = parse_reply(mode.prefix + text)
    if not parsed["tool_calls"]:  # a forced call that did not parse is shown whole, prefill included
        return {"role": "assistant", "content": mode.prefix + text}, finish_reason
    return ({"role": "assistant", "content": parsed["content"] or None, "tool_calls": openai_calls(parsed)},
            "tool_calls" if finish_reason == "stop" else finish_reason)


def openai_calls(parsed: dict) -> list[dict]:
    return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
            for c in parsed["tool_calls"]]


class CallStream:
    """One streamed choice of a tool request: text is sent as it comes until a call may be starting; the calls
    follow as tool_calls deltas once the reply is complete (a call's JSON is only known whole)."""

    def __init__(self, mode: ToolMode):
        self.mode, self.text, self.sent = mode, "", 0
        self.calling = bool(mode.prefix)

    def feed(self, piece: str) -> str:
        """The part of the text so far that is safe to send as content."""
        self.text += piece
        if self.calling or not self.mode.on:
            return "" if self.calling else self._flush(len(self.text))
        start = self.text.find(OPENING)
        if start >= 0:
            self.calling = True
            return self._flush(len(self.text[:start].rstrip()))
        hold = next((k for k in range(min(len(OPENING) - 1, len(self.text)), 0, -1)
                     if self.text.endswith(OPENING[:k])), 0)
        return self._flush(len(self.text) - hold)

    def finish(self, finish_reason: str) -> tuple[str, list[dict], str]:
        """(content not sent yet, tool_calls deltas, finish_reason) at the end of the reply."""
        message, reason = reply_message(self.mode, self.text, finish_reason)
        if not message.get("tool_calls"):
            return self._flush(len(self.text)), [], reason
        calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        return "", calls, reason

    def _flush(self, upto: int) -> str:
        out = self.text[self.sent:upto] if upto > self.sent else ""
        self.sent = max(self.sent, upto)
        return out
