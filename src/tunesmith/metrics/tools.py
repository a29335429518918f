"""Tool calls and reasoning traces in generated text: parsing a reply, and the per-example metrics on it.

A reply's calls are `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks (the fallback template's form,
and that of most templates that take tools), one bare {"name", "arguments"/"parameters"} object, or a JSON list of
them (with or without Mistral's [TOOL_CALLS] marker); a leading <think>...</think>
block is the reasoning trace. Metrics take (prediction, reference) texts like the others in metrics/text.py and
return None where they do not apply (a call metric on a row whose reference makes no call), so a row that needs no
call does not count for or against call accuracy.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from tunesmith.metrics.text import WORD, exact_match

CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.S)


def parse_reply(text: str) -> dict:
    """{reasoning, content, tool_calls: [{name, arguments}], invalid (call blocks that did not parse)}."""
    reasoning = ""
    found = THINK.match(text)
    if found:
        reasoning, text = found.group(1).strip(), text[found.end():]
    calls, invalid = [], 0
    for block in CALL.findall(text):
        call = _call_from_json(block)
        invalid += call is None
        calls += [call] if call else []
    content = CALL.sub("", text).strip()
    if not calls and not invalid:
        bare = _bare_calls(content)
        if bare:
            calls, content = bare, ""
    return {"reasoning": reasoning, "content": content, "tool_calls": calls, "invalid": invalid}


def _bare_calls(content: str) -> list[dict]:
    """Calls written without <tool_call> tags, as other templates write them: one {"name", "arguments"} object
    (Llama 3.1's, with "parameters"), or a list of them (Mistral's, after its [TOOL_CALLS] marker)."""
    text = content.removeprefix("[TOOL_CALLS]").strip()
    if text.startswith("{"):
        call = _call_from_json(text)
        return [call] if call else []
    if not text.startswith("["):
        return []
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except (json.JSONDecodeError, ValueError):
        return []
    calls = [_call_from_json(json.dumps(item)) for item in value] if isinstance(value, list) and value else []
    return calls if calls and all(calls) else []


def _call_from_json(text: str) -> dict | None:
    """A call from the JSON object at the start of `text` (what follows it, such as a cut-off closing tag, is
    ignored), or None."""
    try:
        value, _ = json.JSONDecoder().raw_decode(text.strip())
    except (json.JSONDecodeError, ValueError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (json.JSONDecodeError, ValueError):
            return None
    return {"name": value["name"], "arguments": arguments} if isinstance(arguments, dict) else None


def _key(call: dict) -> str:
    return json.dumps([call["name"], call["arguments"]], sort_keys=True)


def _argument_triples(calls: list[dict]) -> Counter:
    return Counter((c["name"], name, json.dumps(value, sort_keys=True)) for c in calls
                   for name, value in c["arguments"].items())


def _calls(prediction: str, reference: str):
    expected = parse_reply(reference)["tool_calls"]
    return (parse_reply(prediction), expected) if expected else (None, None)


def tool_call_exact_match(prediction: str, reference: str) -> float | None:
    """The same calls (names and argument values; order and key order ignored), on rows that call."""
    predicted, expected = _calls(prediction, reference)
    if expected is None:
        return None
    return float(Counter(map(_key, predicted["tool_calls"])) == Counter(map(_key, expected)))


def function_name_accuracy(prediction: str, reference: str) -> float | None:
    """The right functions, as many times as the reference calls them, whatever the arguments."""
    predicted, expected = _calls(prediction, reference)
    if expected is None:
        return None
    return float(Counter(c["name"] for c in predicted["tool_calls"]) == Counter(c["name"] for c in expected))


def arguments_valid_json(prediction: str, reference: str) -> float | None:
    """On rows that call: the reply made at least one call and every call block parsed as JSON with a name."""
    predicted, expected = _calls(prediction, reference)
    if expected is None:
        return None
    return float(bool(predicted["tool_calls"]) and not predicted["invalid"])


def argument_f1(prediction: str, reference: str) -> float | None:
    """F1 over (function, argument, value) triples: partial credit for a call with some arguments right."""
    predicted, expected = _calls(prediction, reference)
    if expected is None:
        return None
    got, want = _argument_triples(predicted["tool_calls"]), _argument_triples(expected)
    overlap = sum((got & want).values())
    if not overlap:
        return float(not got and not want and function_name_accuracy(prediction, reference) == 1.0)
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def call_decision_accuracy(prediction: str, reference: str) -> float:
    """Called when the reference calls, answered in text when it does not."""
    predicted = parse_reply(prediction)
    return float(bool(predicted["tool_calls"] or predicted["invalid"]) == bool(parse_reply(reference)["tool_calls"]))


def final_answer_exact_match(prediction: str, reference: str) -> float:
    """Exact match of the answers with any <think> trace removed from both."""
    return exact_match(parse_reply(prediction)["content"], parse_reply(reference)["content"])


def trace_words(prediction: str, reference: str) -> float:
    """Words in the reply's reasoning trace (a length, not a score)."""
    return float(len(WORD.findall(parse_reply(prediction)["reasoning"])))


TOOL_METRICS = {"tool_call_exact_match": tool_call_exact_match, "function_name_accuracy": function_name_accuracy,
                "arguments_valid_json": arguments_valid_json, "argument_f1": argument_f1,
                "call_decision_accuracy": call_decision_accuracy, "final_answer_exact_match": final_answer_exact_match,
                "trace_words": trace_words}
LENGTHS = {"trace_words"}  # reported base vs tuned, but neither direction is "better"
