"""Tool calling and reasoning traces in chat data: validation, the stored form, rendering and parsing.

Stored form (one Arrow row): the conversation's tool definitions as a JSON string on its first message (`tools`),
an assistant message's calls as a JSON list of {id, name, arguments (an object)} (`tool_calls`), a tool result's
`tool_call_id`, and an assistant's thinking part (`reasoning`). Every place that renders or generates gets the tools
with the conversation, so nothing downstream needs a second argument.

Rendering: with the model's chat template when it takes `tools` (transformers `apply_chat_template(tools=...)`),
otherwise with the fallback below, which any template can show because it uses only system, user and assistant
turns (recorded in the run as data.tool_template):
- the tools are listed in the system message between <tools></tools>, one JSON definition per line;
- an assistant call is `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` after the reply's text;
- tool results go back as a user turn of `<tool_response>...</tool_response>` blocks, which never carry loss;
- a reasoning trace is `<think>...</think>` before the answer.
"""

from __future__ import annotations

import json

from tunesmith.errors import UserError
from tunesmith.metrics.tools import THINK

FALLBACK_INSTRUCTIONS = ("You can call these functions. To call one, reply with <tool_call>{\"name\": NAME, "
                         "\"arguments\": {...}}</tool_call> (one block per call); answer in plain text when no call "
                         "is needed.")


# ---------------------------------------------------------------- validation of the user's rows


def _json_object(value, where: str, field: str) -> dict:
    """A call's arguments: an object, or (OpenAI's form) a string holding one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: {field} is not valid JSON ({exc.msg} at character {exc.pos}): "
                            f"{value[:80]!r}") from None
    if not isinstance(value, dict):
        raise UserError(f"{where}: {field} must be a JSON object of argument names to values")
    return value


def check_tools(tools, where: str, field: str = "tools") -> list[dict]:
    """OpenAI-style tool definitions, each function's `parameters` checked as JSON Schema."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if isinstance(tools, str):
        tools = json_value(tools, where, field)
    if not isinstance(tools, list) or not tools:
        raise UserError(f"{where}: {field} must be a non-empty list of function definitions")
    out = []
    for i, tool in enumerate(tools):
        name = f"{field}[{i}]"
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise UserError(f"{where}: {name} needs function.name (OpenAI's {{type: function, function: {{name, "
                            "description, parameters}}}})")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        try:
            validator_for(parameters).check_schema(parameters)
        except SchemaError as exc:
            raise UserError(f"{where}: {name}.function.parameters is not JSON Schema: {exc.message}") from None
        if parameters.get("type", "object") != "object":
            raise UserError(f"{where}: {name}.function.parameters must describe an object (type: object)")
        out.append({"type": "function", "function": {"name": function["name"],
                                                     "description": function.get("description", ""),
                                                     "parameters": parameters}})
    return out


def json_value(text: str, where: str, field: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: {field} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    return value


def check_calls(calls, where: str, field: str, tools: list[dict] | None, count: int) -> list[dict]:
    """An assistant message's tool_calls as [{id, name, arguments}]; `count` numbers the ids it lacks."""
    from jsonschema import Draft202012Validator

    if not isinstance(calls, list) or not calls:
        raise UserError(f"{where}: {field} must be a non-empty list of calls")
    known = {t["function"]["name"]: t["function"]["parameters"] for t in tools or []}
    out = []
    for j, call in enumerate(calls):
        name = f"{field}[{j}]"
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise UserError(f"{where}: {name} needs function.name and function.arguments")
        arguments = _json_object(function.get("arguments", {}), where, f"{name}.function.arguments")
        if tools is not None and function["name"] not in known:
            raise UserError(f"{where}: {name}.function.name '{function['name']}' is not one of the row's tools "
                            f"({', '.join(known)})")
        if tools is not None:
            problem = next(iter(Draft202012Validator(known[function["name"]]).iter_errors(arguments)), None)
            if problem is not None:
                raise UserError(f"{where}: {name}.function.arguments do not fit {function['name']}'s parameters: "
                                f"{problem.message}")
        out.append({"id": str(call.get("id") or f"call_{count + j + 1}"), "name": function["name"],
                    "arguments": arguments})
    return out


def check_tool_results(messages: list[dict], where: str, field: str) -> None:
    """Every tool message answers a call of the assistant message before it, by id."""
    pending: list[str] = []
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            pending = [c["id"] for c in calls_of(message)]
        elif message["role"] == "tool":
            if not pending:
                raise UserError(f"{where}: {field}[{i}] is a tool result with no assistant tool call before it")
            call_id = message.get("tool_call_id") or pending[0]  # results without ids answer the calls in order
            if call_id not in pending:
                raise UserError(f"{where}: {field}[{i}].tool_call_id '{call_id}' matches no call of the assistant "
                                f"message before it ({', '.join(pending)})")
            message["tool_call_id"] = call_id
            pending.remove(call_id)
        else:
            pending = []


def split_reasoning(message: dict, where: str, field: str) -> tuple[str, str]:
    """(reasoning, answer) of an assistant message: a reasoning/thinking field, or a leading <think> block."""
    content = message.get("content") or ""
    for key in ("reasoning", "reasoning_content", "thinking"):
        if message.get(key):
            if not isinstance(message[key], str):
                raise UserError(f"{where}: {field}.{key} must be a string")
            return message[key].strip(), content
    found = THINK.match(content) if isinstance(content, str) else None
    if found:
        return found.group(1).strip(), content[found.end():]
    return "", content


# ---------------------------------------------------------------- the stored form


def tools_of(messages: list[dict]) -> list[dict] | None:
    raw = messages[0].get("tools") if messages else None
    return json.loads(raw) if raw else None


def with_tools(messages: list[dict], tools: list[dict] | None) -> list[dict]:
    """The conversation carrying `tools` on its first message (how serve and eval hand them to rendering)."""
    if not tools or not messages:
        return messages
    return [{**messages[0], "tools": json.dumps(tools)}, *messages[1:]]


def calls_of(message: dict) -> list[dict]:
    return json.loads(message.get("tool_calls") or "[]")


def uses_tools(messages: list[dict]) -> bool:
    return bool(tools_of(messages)) or any(m.get("tool_calls") or m["role"] == "tool" for m in messages)


# ---------------------------------------------------------------- rendering


def model_takes_tools(tokenizer) -> bool:
    """Whether the model's own chat template renders `tools` (and so its calls and results)."""
    template = tokenizer.chat_template or ""
    return isinstance(template, str) and "tools" in template and "tool_calls" in template


def call_text(call: dict) -> str:
    return "<tool_call>" + json.dumps({"name": call["name"], "arguments": call["arguments"]},
                                      ensure_ascii=False) + "</tool_call>"


def answer_text(message: dict, with_reasoning: bool = True) -> str:
    """An assistant message as the fallback writes it: <think>trace</think>, its text, then its calls."""
    parts = [f"<think>{message['reasoning']}</think>"] if with_reasoning and message.get("reasoning") else []
    parts += [message["content"]] if message.get("content") else []
    parts += [call_text(c) for c in calls_of(message)]
    return "\n".join(parts)


def _fallback(messages: list[dict]) -> list[dict]:
    tools = tools_of(messages)
    out: list[dict] = []
    if tools:
        listing = "\n".join(json.dumps(t["function"], ensure_ascii=False) for t in tools)
        system = f"{FALLBACK_INSTRUCTIONS}\n<tools>\n{listing}\n</tools>"
        if messages[0]["role"] == "system":
            system = f"{messages[0]['content']}\n\n{system}"
        out.append({"role": "system", "content": system})
    for message in messages:
        if message["role"] == "system" and tools:
            continue
        if message["role"] == "tool":
            block = f"<tool_response>{message['content']}</tool_response>"
            if out and out[-1].get("_results"):
                out[-1]["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block, "_results": True})
        elif message["role"] == "assistant":
            out.append({"role": "assistant", "content": answer_text(message)})
        else:
            out.append({"role": message["role"], "content": message["content"]})
    return [{"role": m["role"], "content": m["content"]} for m in out]


def openai_calls(message: dict, arguments_as_text: bool) -> list[dict]:
    """The message's calls in OpenAI's shape; arguments as JSON text (the API's form) or as an object (what chat
    templates take)."""
    return [{"id": c["id"], "type": "function", "function": {
        "name": c["name"],
        "arguments": json.dumps(c["arguments"], ensure_ascii=False) if arguments_as_text else c["arguments"]}}
        for c in calls_of(message)]


def _for_model(messages: list[dict]) -> list[dict]:
    """OpenAI-shaped messages for a template that takes tools."""
    out = []
    for message in messages:
        plain = {"role": message["role"], "content": message.get("content") or ""}
        if message["role"] == "assistant":
            plain["content"] = answer_text({**message, "tool_calls": None})
            if message.get("tool_calls"):
                plain["tool_calls"] = openai_calls(message, arguments_as_text=False)
        if message["role"] == "tool":
            plain["tool_call_id"] = message.get("tool_call_id") or ""
        out.append(plain)
    return out


def template_inputs(tokenizer, messages: list[dict], mode: str = "auto") -> tuple[list[dict], list | None]:
    """(messages, tools) to hand to apply_chat_template: the model's own tool rendering, or the fallback.
    mode: auto (the model's when its template takes tools), model, fallback."""
    if not uses_tools(messages) and not any(m.get("reasoning") for m in messages):
        return [{"role": m["role"], "content": m["content"]} for m in messages], None
    if mode == "model" or (mode == "auto" and model_takes_tools(tokenizer) and uses_tools(messages)):
        return _for_model(messages), [{"type": t["type"], "function": t["function"]}
                                      for t in tools_of(messages) or []] or None
    return _fallback(messages), None


def template_used(tokenizer, mode: str) -> str:
    """What renders tool conversations for this model: "model" or "fallback" (kept in the run's data report)."""
    return "model" if mode == "model" or (mode == "auto" and model_takes_tools(tokenizer)) else "fallback"


def openai_row(messages: list[dict]) -> dict:
    """The stored conversation back in OpenAI's chat format ({messages, tools}), which the loaders read again."""
    out = []
    for message in messages:
        plain = {"role": message["role"], "content": message.get("content") or ""}
        for key in ("weight", "tool_call_id", "reasoning"):
            if message.get(key) is not None and (key != "weight" or message["role"] == "assistant"):
                plain[key] = message[key]
        if message.get("tool_calls"):
            plain["tool_calls"] = openai_calls(message, arguments_as_text=True)
        out.append(plain)
    tools = tools_of(messages)
    return {"messages": out, **({"tools": tools} if tools else {})}


def with_system(messages: list[dict], content: str) -> list[dict]:
    """A system message put first, the tools moving with the conversation's first message."""
    first = {k: v for k, v in messages[0].items() if k != "tools"}
    return with_tools([{"role": "system", "content": content, "weight": 1}, first, *messages[1:]], tools_of(messages))
