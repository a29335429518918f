"""Detect an example's format and convert it to chat messages (the internal schema of SFT)."""

from __future__ import annotations

from tunesmith.data.load import Record
from tunesmith.errors import UserError

ROLES = ("system", "user", "assistant")


def detect_format(fields: dict) -> str:
    if "messages" in fields:
        return "messages"
    if "prompt" in fields and "completion" in fields:
        return "prompt_completion"
    return "unknown"


def _check_text(value, where: str, field: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{where}: field '{field}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise UserError(f"{where}: field '{field}' is empty")
    return value


def _check_messages(messages, where: str) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{where}: field 'messages' must be a non-empty list of {{role, content}} objects")
    out = []
    for i, message in enumerate(messages):
        field = f"messages[{i}]"
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise UserError(f"{where}: {field} needs 'role' and 'content'")
        role = message["role"]
        if role not in ROLES:
            raise UserError(f"{where}: {field}.role is '{role}'; expected one of {', '.join(ROLES)}")
        if role == "system" and i != 0:
            raise UserError(f"{where}: {field} is a system message; only the first message may be one")
        clean = {"role": role, "content": _check_text(message["content"], where, f"{field}.content")}
        if "weight" in message:  # OpenAI fine-tuning format: weight 0 = no loss on this assistant message
            if role != "assistant" or message["weight"] not in (0, 1):
                raise UserError(f"{where}: {field}.weight must be 0 or 1 and only on assistant messages")
            clean["weight"] = message["weight"]
        out.append(clean)
    turns = [m["role"] for m in out if m["role"] != "system"]
    for previous, current in zip(turns, turns[1:]):
        if previous == current:
            raise UserError(f"{where}: two '{current}' messages in a row; user and assistant must alternate")
    if not turns or turns[0] != "user":
        raise UserError(f"{where}: the conversation must start with a user message (after an optional system one)")
    if turns[-1] != "assistant":
        raise UserError(f"{where}: the last message must be the assistant's reply (it is what the model learns)")
    return out


def to_messages(record: Record, system_prompt: str | None = None) -> list[dict]:
    """Chat messages for one record, validated; `system_prompt` is added where the record has none."""
    fields, where = record.fields, record.source
    kind = detect_format(fields)
    if kind == "messages":
        messages = _check_messages(fields["messages"], where)
    elif kind == "prompt_completion":
        messages = [
            {"role": "user", "content": _check_text(fields["prompt"], where, "prompt")},
            {"role": "assistant", "content": _check_text(fields["completion"], where, "completion")},
        ]
    else:
        raise UserError(
            f"{where}: no known format: expected field 'messages' or fields 'prompt' and 'completion' "
            f"(found: {', '.join(sorted(fields)) or 'none'})"
        )
    if system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages
