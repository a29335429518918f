"""Tool-calling and reasoning rows: formats detected and converted, the mistakes users make named, rendering
through the fallback template with loss only on the assistant's calls and answers."""

import json

import pytest

from tunesmith.data.formats import to_messages
from tunesmith.data.load import Record
from tunesmith.data.tokenize import IGNORE, render, tokenize_chat
from tunesmith.data.tools import calls_of, model_takes_tools, openai_row, tools_of
from tunesmith.errors import UserError

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["C", "F"]}},
                   "required": ["city"]}}}


def openai_fields(arguments='{"city": "Oslo"}', call_id="call_1", result_id="call_1", name="get_weather"):
    return {"tools": [WEATHER], "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": result_id, "content": '{"temp": 3}'},
        {"role": "assistant", "content": "It is 3 degrees in Oslo."}]}


def test_openai_tool_rows_are_stored_and_round_trip():
    messages = to_messages(Record("t.jsonl:1", openai_fields()))
    assert tools_of(messages)[0]["function"]["name"] == "get_weather"
    assert calls_of(messages[1]) == [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert messages[2]["tool_call_id"] == "call_1" and messages[1]["content"] == ""
    again = to_messages(Record("t.jsonl:1", openai_row(messages)))
    assert again == messages


@pytest.mark.parametrize(("change", "message"), [
    ({"arguments": '{"city": "Oslo"'}, r"messages\[1\].tool_calls\[0\].function.arguments is not valid JSON"),
    ({"name": "get_wether"}, r"messages\[1\].tool_calls\[0\].function.name 'get_wether' is not one of the row's "
                             r"tools \(get_weather\)"),
    ({"result_id": "call_9"}, r"messages\[2\].tool_call_id 'call_9' matches no call .*\(call_1\)"),
    ({"arguments": '{"unit": "C"}'}, r"messages\[1\].tool_calls\[0\].function.arguments do not fit get_weather's parameters: 'city' is a required property"),
])
def test_the_mistakes_users_make_are_named(change, message):
    with pytest.raises(UserError, match=r"t.jsonl:4: " + message):
        to_messages(Record("t.jsonl:4", openai_fields(**change)))


def test_a_schema_that_is_not_json_schema_is_named():
    fields = openai_fields()
    fields["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]
    with pytest.raises(UserError, match=r"tools\[0\].function.parameters is not JSON Schema"):
        to_messages(Record("t.jsonl:2", fields))


def test_a_call_must_be_answered_before_the_user_speaks_again():
    fields = openai_fields()
    del fields["messages"][2]
    with pytest.raises(UserError, match="must be followed by their tool results"):
        to_messages(Record("t.jsonl:3", fields))


def test_sharegpt_function_call_and_hermes_variants_convert_to_the_same_calls():
    llama_factory = {"tools": json.dumps([WEATHER["function"]]), "conversations": [
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}})},
        {"from": "observation", "value": '{"temp": 3}'},
        {"from": "gpt", "value": "It is 3 degrees in Oslo."}]}
    hermes = {"conversations": [
        {"from": "system", "value": f"You are helpful.\n<tools>\n{json.dumps(WEATHER['function'])}\n</tools>"},
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "gpt", "value": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'},
        {"from": "tool", "value": '<tool_response>\n{"temp": 3}\n</tool_response>'},
        {"from": "gpt", "value": "It is 3 degrees in Oslo."}]}
    for fields in (llama_factory, hermes):
        messages = to_messages(Record("s.jsonl:1", fields))
        calling = next(m for m in messages if m.get("tool_calls"))
        assert [(c["name"], c["arguments"]) for c in calls_of(calling)] == [("get_weather", {"city": "Oslo"})]
        assert tools_of(messages)[0]["function"]["name"] == "get_weather"
        assert [m for m in messages if m["role"] == "tool"][0]["content"] == '{"temp": 3}'
    assert to_messages(Record("s.jsonl:1", hermes))[0]["content"] == "You are helpful."


def test_fallback_rendering_trains_calls_and_answers_never_tool_results(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert not model_takes_tools(tokenizer)
    messages = to_messages(Record("t.jsonl:1", openai_fields()))
    text = render(tokenizer, messages)
    assert "<tools>" in text and '"name": "get_weather"' in text
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>' in text
    assert "<|im_start|>user\n<tool_response>{\"temp\": 3}</tool_response>" in text
    row = tokenize_chat(tokenizer, messages)
    trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE])
    assert "get_weather" in trained and "It is 3 degrees" in trained
    assert "temp" not in trained and "Weather in Oslo" not in trained


def test_reasoning_trace_is_trained_or_masked(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tagged = {"messages": [{"role": "user", "content": "2+3*4?"},
                           {"role": "assistant", "content": "<think>3*4 is 12, plus 2</think>14"}]}
    field = {"messages": [{"role": "user", "content": "2+3*4?"},
                          {"role": "assistant", "content": "14", "reasoning": "3*4 is 12, plus 2"}]}
    messages = to_messages(Record("r.jsonl:1", tagged))
    assert messages == to_messages(Record("r.jsonl:1", field))
    assert messages[1]["reasoning"] == "3*4 is 12, plus 2" and messages[1]["content"] == "14"
    loss_text = lambda row: tokenizer.decode([t for t, x in zip(row["input_ids"], row["labels"])  # noqa: E731
                                              if x != IGNORE])
    with_trace, without = (loss_text(tokenize_chat(tokenizer, messages, train_reasoning=flag)) for flag in (True, False))
    assert "is 12" in with_trace and "14" in with_trace
    assert "is 12" not in without and "think" not in without and "14" in without


# A model's own tool template (Mistral-like: the tool listing up front, calls as a JSON list after a marker):
# what `template_inputs` hands such a model instead of the fallback.
MODEL_TOOL_TEMPLATE = (
    "{%- if tools %}[AVAILABLE_TOOLS]{{ tools | map(attribute='function') | list | tojson }}[/AVAILABLE_TOOLS]\n"
    "{% endif %}{%- for m in messages %}"
    "{%- if m.role == 'assistant' and m.tool_calls %}<|im_start|>assistant\n[TOOL_CALLS]"
    "{{ m.tool_calls | map(attribute='function') | list | tojson }}<|im_end|>\n"
    "{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_a_model_template_that_takes_tools_renders_them_and_its_calls_score(tiny_model):
    from transformers import AutoTokenizer

    from tunesmith.data.tools import answer_text
    from tunesmith.metrics.tools import call_decision_accuracy, parse_reply, tool_call_exact_match

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = MODEL_TOOL_TEMPLATE
    assert model_takes_tools(tokenizer)
    messages = to_messages(Record("t.jsonl:1", openai_fields()))
    text = render(tokenizer, messages)
    assert text.startswith("[AVAILABLE_TOOLS][{\"name\": \"get_weather\"") and "<tools>" not in text  # not the fallback
    assert '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]' in text
    row = tokenize_chat(tokenizer, messages)
    trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE])
    assert trained.startswith("[TOOL_CALLS]") and "It is 3 degrees" in trained
    assert "temp" not in trained and "AVAILABLE_TOOLS" not in trained and "Weather in Oslo" not in trained
    # What the model learns to write is scored against the reference like a <tool_call> block.
    reply = text.split("<|im_start|>assistant\n")[1].split("<|im_end|>")[0]
    reference = answer_text(messages[1])
    assert parse_reply(reply)["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert tool_call_exact_match(reply, reference) == 1.0 and call_decision_accuracy(reply, reference) == 1.0
    assert parse_reply("[1, 2, 3]")["tool_calls"] == []  # a plain JSON list is an answer, not calls
