"""Detect each record's format and convert it to the internal schema an objective needs.

Schemas: chat {messages}, text {text}, classification {text, label} (+ text_pair for sentence-pair tasks),
preference {prompt: messages, chosen, rejected}.
"""

from __future__ import annotations

import json
import re

from tunesmith.data.load import Record
from tunesmith.data.tools import (
    calls_of,
    check_calls,
    check_tool_results,
    check_tools,
    json_value,
    split_reasoning,
    with_system,
    with_tools,
)
from tunesmith.errors import UserError
from tunesmith.metrics.tools import parse_reply

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "function_call": "assistant", "observation": "tool", "tool": "tool"}

# Checked in order: the first whose fields are all present names the record's format.
FORMATS = {
    "messages": ("messages",),
    "openai_preference": ("input", "preferred_output", "non_preferred_output"),
    "sharegpt": ("conversations",),
    "alpaca": ("instruction", "output"),
    "preference": ("prompt", "chosen", "rejected"),
    "prompt_completion": ("prompt", "completion"),
    "classification": ("text", "label"),
    "text": ("text",),
}
SCHEMAS = {
    "chat": {"messages", "sharegpt", "alpaca", "prompt_completion"},
    "text": {"messages", "sharegpt", "alpaca", "prompt_completion", "text", "classification"},
    "classification": {"classification"},
    "preference": {"preference", "openai_preference"},
}


# Classification columns as public datasets name them (SST-2's sentence, CLINC's intent, ...), read as text/label
# when a record has no field of that name and exactly one of these.
ALIASES = {"text": ("sentence", "review", "content", "document", "utterance"),
           "label": ("labels", "intent", "category", "class", "sentiment")}
# Sentence-pair tasks (paraphrase, entailment, question pairs): the two texts, as their datasets name them.
PAIR_ALIASES = (("sentence1", "sentence2"), ("premise", "hypothesis"), ("question1", "question2"),
                ("question", "sentence"), ("text_a", "text_b"))


def with_aliases(fields: dict) -> dict:
    """The record's fields with a classification alias renamed to text/label (and a sentence pair's second text to
    text_pair) where that is unambiguous."""
    renamed = dict(fields)
    if "text" not in fields and "text_pair" not in fields:
        pair = next(((a, b) for a, b in PAIR_ALIASES if a in fields and b in fields), None)
        if pair:
            renamed["text"], renamed["text_pair"] = renamed.pop(pair[0]), renamed.pop(pair[1])
    for name, aliases in ALIASES.items():
        present = [a for a in aliases if a in fields]
        if name not in fields and len(present) == 1:
            renamed[name] = renamed.pop(present[0])
    return renamed


def detect_format(fields: dict) -> str:
    for name, required in FORMATS.items():
        if all(key in fields for key in required):
            return name
    return "unknown"


def check_text(value, where: str, field: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{where}: field '{field}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise UserError(f"{where}: field '{field}' is empty")
    return value


def _message(message, i: int, where: str, field: str, tools, calls_so_far: int) -> dict:
    name = f"{field}[{i}]"
    if not isinstance(message, dict) or "role" not in message:
        raise UserError(f"{where}: {name} needs 'role' and 'content'")
    role = {"function": "tool"}.get(message["role"], message["role"])  # OpenAI's older function-calling role
    if role not in ROLES:
        raise UserError(f"{where}: {name}.role is '{role}'; expected one of {', '.join(ROLES)}")
    if role == "system" and i != 0:
        raise UserError(f"{where}: {name} is a system message; only the first message may be one")
    raw_calls = message.get("tool_calls") or ([message["function_call"]] if message.get("function_call") else None)
    if raw_calls is not None and role != "assistant":
        raise UserError(f"{where}: {name} has tool_calls but only assistant messages make calls")
    clean = {"role": role, "weight": 1}
    if role == "assistant":
        reasoning, content = split_reasoning(message, where, name)
        clean["reasoning"] = reasoning or None
    else:
        content = message.get("content")
    if raw_calls:
        clean["tool_calls"] = json.dumps(check_calls(raw_calls, where, f"{name}.tool_calls", tools, calls_so_far))
        clean["content"] = content.strip() if isinstance(content, str) else ""
    elif "content" not in message:
        raise UserError(f"{where}: {name} needs 'role' and 'content'")
    else:
        clean["content"] = check_text(content, where, f"{name}.content")
    if role == "tool":
        clean["tool_call_id"] = str(message.get("tool_call_id") or "") or None
    if "weight" in message:  # OpenAI fine-tuning format: weight 0 = no loss on this assistant message
        if role != "assistant" or message["weight"] not in (0, 1):
            raise UserError(f"{where}: {name}.weight must be 0 or 1 and only on assistant messages")
        clean["weight"] = int(message["weight"])
    return {k: v for k, v in clean.items() if v is not None}


def check_messages(messages, where: str, field: str = "messages", final_assistant: bool = True,
                   tools: list[dict] | None = None) -> list[dict]:
    """Validated messages in the stored form (see data/tools.py for the tool-calling fields)."""
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{where}: field '{field}' must be a non-empty list of {{role, content}} objects")
    out: list[dict] = []
    for i, message in enumerate(messages):
        calls = sum(len(calls_of(m)) for m in out)
        out.append(_message(message, i, where, field, tools, calls))
    _check_turn_order(out, where, final_assistant)
    check_tool_results(out, where, field)
    return with_tools(out, tools)


def _check_turn_order(messages: list[dict], where: str, final_assistant: bool) -> None:
    turns = [m for m in messages if m["role"] != "system"]
    for previous, current in zip(turns, turns[1:]):
        calling = previous["role"] == "assistant" and previous.get("tool_calls")
        if current["role"] == "tool" and not (calling or previous["role"] == "tool"):
            raise UserError(f"{where}: a tool result must follow the assistant message that made the call")
        if calling and current["role"] != "tool":
            raise UserError(f"{where}: an assistant message with tool_calls must be followed by their tool results")
        if previous["role"] == "tool" and current["role"] == "user":
            raise UserError(f"{where}: after tool results the assistant answers; a user message came first")
        if previous["role"] == current["role"] != "tool":
            raise UserError(f"{where}: two '{current['role']}' messages in a row; user and assistant must alternate")
    if not turns or turns[0]["role"] != "user":
        raise UserError(f"{where}: the conversation must start with a user message (after an optional system one)")
    if final_assistant and turns[-1]["role"] != "assistant":
        raise UserError(f"{where}: the last message must be the assistant's reply (it is what the model learns)")
    if not final_assistant and turns[-1]["role"] not in ("user", "tool"):
        raise UserError(f"{where}: a prompt must end with the user's message or tool results")


def row_tools(fields: dict, where: str) -> list[dict] | None:
    """The row's tool definitions (OpenAI `tools`, the older `functions`, or ShareGPT's JSON string), checked."""
    for key in ("tools", "functions"):
        if fields.get(key):
            return check_tools(fields[key], where, key)
    return None


def _sharegpt(turns, where: str, tools: list[dict] | None) -> list[dict]:
    """ShareGPT rows, with the tool-calling variants: LLaMA-Factory's function_call/observation turns, and
    Hermes-style <tool_call>/<tool_response> tags with the tools in a <tools> block of the system turn."""
    if not isinstance(turns, list):
        raise UserError(f"{where}: field 'conversations' must be a list of {{from, value}} objects")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("from") not in SHAREGPT_ROLES or "value" not in turn:
            raise UserError(f"{where}: conversations[{i}] needs 'from' ({', '.join(SHAREGPT_ROLES)}) and 'value'")
        messages.append(_sharegpt_turn(turn, where, f"conversations[{i}]"))
    tools = tools or _hermes_tools(messages, where)
    merged: list[dict] = []
    for message in messages:  # a function_call turn joins the gpt turn before it
        if merged and message.get("tool_calls") and merged[-1]["role"] == "assistant" and not merged[-1].get(
                "tool_calls"):
            merged[-1] = {**merged[-1], "tool_calls": message["tool_calls"]}
        else:
            merged.append(message)
    return check_messages(merged, where, "conversations", tools=tools)


def _sharegpt_turn(turn: dict, where: str, field: str) -> dict:
    role, value = SHAREGPT_ROLES[turn["from"]], turn["value"]
    if turn["from"] == "function_call":
        call = json_value(value, where, f"{field}.value") if isinstance(value, str) else value
        return {"role": "assistant", "content": "", "tool_calls": call if isinstance(call, list) else [call]}
    if role == "assistant" and isinstance(value, str) and "<tool_call>" in value:
        reply = parse_reply(value)
        if reply["invalid"]:
            raise UserError(f"{where}: {field}.value holds a <tool_call> block that is not valid JSON with a name")
        return {"role": "assistant", "content": reply["content"], "tool_calls": reply["tool_calls"],
                **({"reasoning": reply["reasoning"]} if reply["reasoning"] else {})}
    if role == "tool" and isinstance(value, str):
        value = re.sub(r"</?tool_response>", "", value).strip()
    return {"role": role, "content": value}


def _hermes_tools(messages: list[dict], where: str) -> list[dict] | None:
    system = messages[0] if messages and messages[0]["role"] == "system" else None
    found = re.search(r"<tools>(.*?)</tools>", system["content"], re.S) if system else None
    if not found:
        return None
    body = found.group(1).strip()
    definitions = json_value(body, where, "the system turn's <tools> block") if body.startswith("[") else [
        json_value(line, where, "the system turn's <tools> block") for line in body.splitlines() if line.strip()]
    system["content"] = (system["content"][: found.start()] + system["content"][found.end():]).strip()
    if not system["content"]:
        messages.remove(system)
    return check_tools(definitions, where, "<tools>")


def _alpaca(fields: dict, where: str) -> list[dict]:
    instruction = check_text(fields["instruction"], where, "instruction")
    extra = fields.get("input") or ""
    if not isinstance(extra, str):
        raise UserError(f"{where}: field 'input' must be a string")
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return [{"role": "user", "content": prompt, "weight": 1},
            {"role": "assistant", "content": check_text(fields["output"], where, "output"), "weight": 1}]


def to_chat(kind: str, fields: dict, where: str) -> list[dict]:
    if kind == "messages":
        return check_messages(fields["messages"], where, tools=row_tools(fields, where))
    if kind == "sharegpt":
        return _sharegpt(fields["conversations"], where, row_tools(fields, where))
    if kind == "alpaca":
        return _alpaca(fields, where)
    return [{"role": "user", "content": check_text(fields["prompt"], where, "prompt"), "weight": 1},
            {"role": "assistant", "content": check_text(fields["completion"], where, "completion"), "weight": 1}]


def _reply(value, where: str, field: str) -> str:
    """A preferred/rejected answer: a string, or (TRL and OpenAI style) a list holding one assistant message."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        if value[0].get("role", "assistant") != "assistant":
            raise UserError(f"{where}: {field}[0].role must be 'assistant'")
        return check_text(value[0].get("content"), where, f"{field}[0].content")
    return check_text(value, where, field)


def to_preference(kind: str, fields: dict, where: str) -> dict:
    if kind == "openai_preference":
        source = fields["input"]
        if not isinstance(source, dict) or "messages" not in source:
            raise UserError(f"{where}: field 'input' must be an object with 'messages'")
        prompt = check_messages(source["messages"], where, "input.messages", final_assistant=False)
        chosen, rejected = fields["preferred_output"], fields["non_preferred_output"]
        names = ("preferred_output", "non_preferred_output")
    else:
        raw = fields["prompt"]
        prompt = (check_messages(raw, where, "prompt", final_assistant=False) if isinstance(raw, list)
                  else [{"role": "user", "content": check_text(raw, where, "prompt"), "weight": 1}])
        chosen, rejected, names = fields["chosen"], fields["rejected"], ("chosen", "rejected")
    chosen, rejected = _reply(chosen, where, names[0]), _reply(rejected, where, names[1])
    if chosen.strip() == rejected.strip():
        raise UserError(f"{where}: '{names[0]}' and '{names[1]}' are the same answer; the pair teaches nothing")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def _label(value, where: str, labels: list[str] | None) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UserError(f"{where}: field 'label' must be a string or an integer, got {type(value).__name__}")
    label = str(value).strip()
    if not label:
        raise UserError(f"{where}: field 'label' is empty")
    if labels is not None and label not in labels:
        raise UserError(f"{where}: unknown label '{label}'; data.labels allows {', '.join(labels)}")
    return label


def to_text(kind: str, fields: dict, where: str) -> str:
    if kind in ("text", "classification"):
        return check_text(fields["text"], where, "text")
    return "\n\n".join(m["content"] for m in to_chat(kind, fields, where))


def to_schema(record: Record, schema: str, system_prompt: str | None = None,
              labels: list[str] | None = None, expected: str | None = None) -> tuple[str, dict]:
    """(format, row in `schema`) for one record; `expected` is the format the file started with."""
    fields, where = record.fields, record.source
    if schema == "classification":
        fields = with_aliases(fields)
    kind = detect_format(fields)
    if kind == "unknown":
        wanted = " or ".join("+".join(FORMATS[f]) for f in FORMATS if f in SCHEMAS[schema])
        raise UserError(f"{where}: no known format: expected fields {wanted} "
                        f"(found: {', '.join(sorted(fields)) or 'none'})", hint="data.columns renames fields")
    if expected and kind != expected:
        raise UserError(f"{where}: this record is in '{kind}' format but the file started in '{expected}' format; "
                        "one file must use one format")
    if kind not in SCHEMAS[schema]:
        raise UserError(f"{where}: '{kind}' data cannot train a {schema} objective "
                        f"(it needs one of: {', '.join(sorted(SCHEMAS[schema]))})")
    if schema == "chat":
        messages = to_chat(kind, fields, where)
        if system_prompt and messages[0]["role"] != "system":
            messages = with_system(messages, system_prompt)
        return kind, {"messages": messages}
    if schema == "preference":
        row = to_preference(kind, fields, where)
        if system_prompt and row["prompt"][0]["role"] != "system":
            row["prompt"] = [{"role": "system", "content": system_prompt, "weight": 1}, *row["prompt"]]
        return kind, row
    if schema == "classification":
        row = {"text": check_text(fields["text"], where, "text"), "label": _label(fields["label"], where, labels)}
        if fields.get("text_pair") is not None:
            row["text_pair"] = check_text(fields["text_pair"], where, "text_pair")
        return kind, row
    return kind, {"text": to_text(kind, fields, where)}


def to_messages(record: Record, system_prompt: str | None = None) -> list[dict]:
    """Chat messages for one record, validated."""
    return to_schema(record, "chat", system_prompt)[1]["messages"]
