"""Tool-call and reasoning metrics on replies: exact calls, names, JSON validity, argument F1, call decision."""

import pytest

from tunesmith.metrics.tools import (
    argument_f1,
    arguments_valid_json,
    call_decision_accuracy,
    final_answer_exact_match,
    function_name_accuracy,
    parse_reply,
    tool_call_exact_match,
    trace_words,
)

REF = ('<tool_call>{"name": "convert", "arguments": {"amount": 20, "from": "EUR", "to": "USD"}}</tool_call>\n'
       '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>')


def test_parse_reply_splits_trace_text_and_calls():
    reply = parse_reply('<think>need rate</think>Sure.\n<tool_call>{"name": "f", "arguments": "{\\"x\\": 1}"}'
                        '</tool_call>\n<tool_call>{"name": broken</tool_call>')
    assert reply["reasoning"] == "need rate" and reply["content"] == "Sure."
    assert reply["tool_calls"] == [{"name": "f", "arguments": {"x": 1}}] and reply["invalid"] == 1
    assert parse_reply('{"name": "f", "parameters": {"x": 1}}')["tool_calls"] == [{"name": "f", "arguments": {"x": 1}}]


def test_call_metrics():
    swapped = ('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
               '<tool_call>{"name": "convert", "arguments": {"to": "USD", "from": "EUR", "amount": 20}}</tool_call>')
    assert tool_call_exact_match(swapped, REF) == 1.0  # order of calls and of keys does not matter
    wrong_city = swapped.replace("Oslo", "Bergen")
    assert tool_call_exact_match(wrong_city, REF) == 0.0 and function_name_accuracy(wrong_city, REF) == 1.0
    assert argument_f1(wrong_city, REF) == pytest.approx(0.75)  # 3 of 4 (function, argument, value) triples
    assert arguments_valid_json("It is sunny.", REF) == 0.0 and arguments_valid_json(swapped, REF) == 1.0
    assert call_decision_accuracy("It is sunny.", REF) == 0.0 and call_decision_accuracy(swapped, REF) == 1.0


def test_rows_without_a_call_only_count_for_the_decision():
    assert tool_call_exact_match(REF, "Paris is the capital.") is None
    assert argument_f1("Paris.", "Paris is the capital.") is None
    assert call_decision_accuracy("Paris.", "Paris is the capital.") == 1.0
    assert call_decision_accuracy(REF, "Paris is the capital.") == 0.0


def test_reasoning_metrics_score_the_answer_apart_from_the_trace():
    assert final_answer_exact_match("<think>12 plus 2</think> 14", "14") == 1.0
    assert final_answer_exact_match("<think>12 plus 2</think> 15", "14") == 0.0
    assert trace_words("<think>three times four is twelve</think>14", "14") == 5.0
