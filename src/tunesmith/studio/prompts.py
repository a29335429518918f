"""Prompts to label: from a text file (one prompt per line) or from any dataset tunesmith reads, where each
record's prompt is what precedes the answer (a chat conversation up to its last user turn, a prompt/completion's
prompt, a preference pair's prompt, an alpaca instruction, or a plain text)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.formats import check_messages, detect_format, to_chat, to_preference
from tunesmith.data.load import Record, iter_records
from tunesmith.errors import UserError

MAX_PROMPTS = 10_000


def _from_record(record: Record) -> list[dict]:
    fields, where = record.fields, record.source
    kind = detect_format(fields)
    if kind == "messages":
        messages = fields["messages"]
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict) \
                and messages[-1].get("role") == "assistant":
            messages = messages[:-1]  # the recorded answer is what the models will write instead
        return check_messages(messages, where, final_assistant=False)
    if kind in ("preference", "openai_preference"):
        return to_preference(kind, fields, where)["prompt"]
    if kind in ("sharegpt", "alpaca", "prompt_completion"):
        return to_chat(kind, fields, where)[:-1]
    text = fields.get("prompt", fields.get("text"))
    if isinstance(text, str) and text.strip():
        return [{"role": "user", "content": text.strip()}]
    raise UserError(f"{where}: no prompt found (expected messages, prompt, instruction or text)")


def _plain(messages: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _conversations(spec: str):
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".txt" and path.is_file():
        with path.open(encoding="utf-8", errors="replace") as lines:
            yield from ([{"role": "user", "content": line.strip()}] for line in lines if line.strip())
    else:
        yield from (_plain(_from_record(record)) for record in iter_records(spec))


def read_prompts(spec: str, limit: int, system_prompt: str | None = None) -> list[list[dict]]:
    """Up to `limit` distinct prompts, in file order, each a conversation ending with the user's turn; a large
    dataset is read only as far as needed."""
    found: dict[str, list[dict]] = {}
    for conversation in _conversations(spec):
        found.setdefault(repr(conversation), conversation)
        if len(found) >= min(limit, MAX_PROMPTS):
            break
    unique = list(found.values())
    if not unique:
        raise UserError(f"{spec}: no prompts found")
    if system_prompt:
        unique = [c if c[0]["role"] == "system" else [{"role": "system", "content": system_prompt}, *c]
                  for c in unique]
    return unique
