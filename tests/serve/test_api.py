"""The OpenAI-compatible API, driven by the official `openai` client against a server on a loopback port."""

import json
import threading

import pytest

MODELS = ["tiny", "other", "merged", "sentiment", "reviews", "reviews-merged", "tools"]
ORDER = "Order for Lucia: 9 x cappuccino, size big, delivered."
PROMPTS = [ORDER, "hey it's Ivan!! ten oat latte (regular) to take away thanks", "Tom here - two big bagels",
           "one tea", "Mia wants 3 small flat whites, delivered to the office please, asap", "2 espresso"]


def user(text):
    return [{"role": "user", "content": text}]


def greedy(client, model, text, **kwargs):
    reply = client.chat.completions.create(model=model, messages=user(text), temperature=0, max_tokens=24, **kwargs)
    return reply.choices[0].message.content


def run_replies(run, prompts, max_new_tokens=24):
    """What `tunesmith chat` answers: the reference every served variant must reproduce."""
    from tunesmith.inference import generate
    from tunesmith.models.saved import load_run

    loaded = load_run(run)

    model, tokenizer = loaded.model, loaded.tokenizer
    return generate(model, tokenizer, [user(p) for p in prompts], max_new_tokens=max_new_tokens, batch_size=1)


def test_chat_answers_like_tunesmith_chat_and_the_merged_export_agrees(client, lora_run):
    run, _ = lora_run
    expected = run_replies(run, [ORDER])[0]
    reply = client.chat.completions.create(model="tiny", messages=user(ORDER), temperature=0, max_tokens=24)
    assert expected and reply.choices[0].message.content == expected
    assert reply.object == "chat.completion" and reply.model == "tiny" and reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert 0 < reply.usage.completion_tokens <= 24
    assert greedy(client, "merged", ORDER) == expected


def test_two_runs_share_one_base_and_each_request_gets_its_own_adapter(client, http, lora_run, second_run):
    run, _ = lora_run
    expected_tiny, expected_other = run_replies(run, [ORDER])[0], run_replies(second_run, [ORDER])[0]
    assert expected_tiny != expected_other
    answers = [(model, greedy(client, model, ORDER)) for model in ("tiny", "other", "tiny", "other")]
    assert answers == [("tiny", expected_tiny), ("other", expected_other)] * 2
    health = http.get("/health").json()
    assert health["models"] == MODELS
    assert health["base_models_in_memory"] == len(MODELS) - 1  # tiny and other share one base


def test_streaming_sends_the_same_text_in_pieces(client):
    whole = client.chat.completions.create(model="tiny", messages=user(ORDER), temperature=0, max_tokens=24)
    stream = client.chat.completions.create(model="tiny", messages=user(ORDER), temperature=0, max_tokens=24,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.id == chunks[0].id and c.object == "chat.completion.chunk" for c in chunks)


def test_n_max_tokens_and_stop(client):
    full = greedy(client, "tiny", ORDER)
    assert len(full) > 12
    several = client.chat.completions.create(model="tiny", messages=user(ORDER), temperature=0, max_tokens=24, n=3)
    assert [c.index for c in several.choices] == [0, 1, 2]
    assert {c.message.content for c in several.choices} == {full}
    short = client.chat.completions.create(model="tiny", messages=user(ORDER), temperature=0, max_tokens=3)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3
    assert full.startswith(short.choices[0].message.content)
    stop = full[6:9]
    stopped = client.chat.completions.create(model="tiny", messages=user(ORDER), temperature=0, max_tokens=24,
                                             stop=[stop, "never appears"])
    assert stopped.choices[0].message.content == full[: full.find(stop)].strip()
    assert stopped.choices[0].finish_reason == "stop"


def test_text_completions_whole_and_streamed(client):
    reply = client.completions.create(model="tiny", prompt=["Order for", "one tea"], max_tokens=6, temperature=0, n=2)
    assert [c.index for c in reply.choices] == [0, 1, 2, 3] and reply.object == "text_completion"
    assert reply.choices[0].text == reply.choices[1].text != reply.choices[2].text == reply.choices[3].text
    assert all(c.finish_reason == "length" for c in reply.choices) and reply.usage.completion_tokens == 24
    streamed = client.completions.create(model="tiny", prompt="Order for", max_tokens=6, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == reply.choices[0].text


def test_sampling_with_a_seed_repeats_itself(client):
    def sample():
        return client.chat.completions.create(model="tiny", messages=user(ORDER), temperature=1.0, top_p=0.9, seed=7,
                                              max_tokens=16).choices[0].message.content

    assert sample() == sample()


def test_models_list_and_lookup(client):
    import openai

    assert [m.id for m in client.models.list()] == MODELS
    assert client.models.retrieve("other").owned_by == "tunesmith"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-5")
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-5", messages=user("hi"))
    assert info.value.body["code"] == "model_not_found" and "tiny" in info.value.body["message"]


@pytest.mark.parametrize("changes, param, words", [
    ({"max_tokens": "ten"}, "max_tokens", "valid integer"),
    ({"temperature": 5}, "temperature", "less than or equal to 2"),
    ({"n": 0}, "n", "greater than or equal to 1"),
    ({"n": 9}, "n", "at most 8"),
    ({"messages": []}, "messages", "at least 1"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role", "'system'"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "3", "tool_call_id": "c1"}]},
     "messages", "tool result must follow the assistant message that made the call"),
    ({"tool_choice": "required"}, "tool_choice", "the request has no tools"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content", "valid string"),
    ({"max_tokens": 65}, "max_tokens", "more than this server allows (64)"),
    ({"messages": user("order " * 600)}, "messages", "maximum context length is 512"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "up to 4"),
    ({"presence_penalty": 0.5}, "presence_penalty", "not supported"),
    ({"frobnicate": True}, "frobnicate", "unrecognized request argument"),
])
def test_invalid_requests_get_a_400_that_names_the_field(client, changes, param, words):
    import openai

    body = {"model": "tiny", "messages": user("hi"), **changes}
    extra = {k: body.pop(k) for k in list(body) if k not in ("model", "messages")}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=body["model"], messages=body["messages"], extra_body=extra)
    error = info.value.body
    assert error["param"] == param and words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_malformed_and_oversized_bodies_and_unknown_routes(http, server):
    cases = [
        (http.post("/v1/chat/completions", content=b'{"model": "tiny", "messages": [', headers=JSON), 400,
         "not valid JSON"),
        (http.post("/v1/chat/completions", content=b"[1, 2]", headers=JSON), 400, "must be a JSON object"),
        (http.post("/v1/chat/completions"), 400, "must be a JSON object"),
        (http.post("/v1/chat/completions", content=b"x" * 30_000, headers=JSON), 413, "limit of 20000 bytes"),
        (http.post("/v1/chat/completions", content=(b"x" * 1000 for _ in range(40)), headers=JSON), 413, "limit"),
        (http.get("/v1/nothing-here"), 404, "Not Found"),
        (http.get("/v1/chat/completions"), 405, "Method Not Allowed"),
    ]
    for response, status, words in cases:
        assert response.status_code == status
        assert words in response.json()["error"]["message"] and "Traceback" not in response.text
    assert http.get("/health").json()["status"] == "ok"


def test_api_key_is_required_except_for_health(server, client):
    import httpx
    import openai

    for key in ("wrong-key", "test-key-0123456788"):
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0).models.list()
    missing = httpx.post(f"{server.url}/v1/chat/completions", json={"model": "tiny", "messages": user("hi")})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert greedy(client, "tiny", "one tea")  # the right key still works


def test_classify_returns_labels_and_probabilities(http, tiny_classifier):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = ["great coffee, thanks", "the order never came and nobody answered"]
    response = http.post("/v1/classify", json={"model": "sentiment", "input": texts})
    assert response.status_code == 200
    results = response.json()["data"]
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier)
    for text, result in zip(texts, results):
        with torch.inference_mode():
            expected = model(**tokenizer(text, return_tensors="pt")).logits[0].softmax(-1)
        assert result["scores"] == pytest.approx(dict(zip(["negative", "neutral", "positive"], expected.tolist())),
                                                 abs=1e-4)
        assert result["label"] == max(result["scores"], key=result["scores"].get)
    wrong = http.post("/v1/classify", json={"model": "tiny", "input": "hello"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "wrong_model_type"
    assert "/v1/chat/completions" in wrong.json()["error"]["message"]
    backwards = http.post("/v1/chat/completions", json={"model": "sentiment", "messages": user("hi")})
    assert backwards.status_code == 400 and "/v1/classify" in backwards.json()["error"]["message"]


def test_a_classification_run_and_its_export_classify_alike(http, classification_run, classification_export):
    import torch

    from tunesmith.models.saved import load_run

    texts = ["The film was a delight from start to finish.", "It is based on a novel. A waste of time."]
    loaded = load_run(classification_run)
    model, tokenizer = loaded.model, loaded.tokenizer
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    assert sorted(labels) == ["negative", "positive"]
    for name in ("reviews", "reviews-merged"):
        results = http.post("/v1/classify", json={"model": name, "input": texts}).json()["data"]
        for text, result in zip(texts, results):
            with torch.inference_mode():
                expected = model(**tokenizer(text, return_tensors="pt")).logits[0].softmax(-1).tolist()
            assert result["scores"] == pytest.approx(dict(zip(labels, expected)), abs=1e-4)
    assert classification_export.agreement.max_abs_diff < 1e-3 and classification_export.agreement.positions == 4
    card = (classification_export.folder / "README.md").read_text()
    assert "AutoModelForSequenceClassification.from_pretrained(folder)" in card and "Held-out test split" in card


def test_concurrent_clients_all_get_their_own_answers(server, lora_run):
    from openai import OpenAI

    run, _ = lora_run
    expected = dict(zip(PROMPTS, run_replies(run, PROMPTS)))
    answers, failures = [], []

    def client_loop(offset):
        client = OpenAI(base_url=f"{server.url}/v1", api_key="test-key-0123456789", max_retries=0, timeout=120)
        for i in range(3):
            prompt = PROMPTS[(offset + i) % len(PROMPTS)]
            try:
                answers.append((prompt, greedy(client, "tiny", prompt)))
            except Exception as exc:  # collected: an assertion inside a thread would be lost
                failures.append(repr(exc))

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == [] and len(answers) == 24
    assert all(answer == expected[prompt] for prompt, answer in answers)


def test_a_client_leaving_mid_stream_does_not_hurt_the_server(server, client):
    import httpx

    body = {"model": "tiny", "messages": user(ORDER), "max_tokens": 64, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body,
                      headers={"Authorization": "Bearer test-key-0123456789"}) as response:
        first = next(response.iter_lines())
        assert first.startswith("data: ") and json.loads(first[6:])["object"] == "chat.completion.chunk"
    assert greedy(client, "tiny", "one tea")


def test_metrics_count_requests_tokens_and_latency(http, client):
    greedy(client, "tiny", "one tea")
    text = http.get("/metrics").text
    assert 'tunesmith_requests_total{route="/v1/chat/completions",status="200"}' in text
    assert 'tunesmith_request_seconds_bucket{le="0.01",route="/v1/chat/completions"}' in text
    generated = next(line for line in text.splitlines()
                     if line.startswith('tunesmith_generated_tokens_total{model="tiny"}'))
    assert float(generated.split()[-1]) > 0
    assert 'tunesmith_tokens_per_second{model="tiny"}' in text and "tunesmith_queue_depth 0.0" in text


JSON = {"Content-Type": "application/json"}


WEATHER_TOOL = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}]


def test_tool_calls_come_back_in_openais_shape_whole_and_streamed(client):
    ask = {"model": "tools", "messages": user("Weather in Oslo?"), "tools": WEATHER_TOOL, "temperature": 0,
           "max_tokens": 60}
    reply = client.chat.completions.create(**ask)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    chunks = list(client.chat.completions.create(**ask, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    streamed = [t for d in deltas for t in d.tool_calls or []]
    assert [(t.index, t.function.name, json.loads(t.function.arguments)) for t in streamed] == [
        (0, "get_weather", {"city": "Oslo"})]
    assert not any(d.content for d in deltas) and chunks[-1].choices[0].finish_reason == "tool_calls"


def test_the_tool_model_answers_in_text_when_no_call_is_needed(client):
    reply = client.chat.completions.create(model="tools", messages=user("Hi there!"), tools=WEATHER_TOOL,
                                           temperature=0, max_tokens=30)
    assert reply.choices[0].message.content == "Hello! How can I help?" and not reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(model="tools", messages=user("Hi there!"), tools=WEATHER_TOOL,
                                                 temperature=0, max_tokens=30, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! How can I help?"


def test_tool_choice_none_required_and_named(client):
    base = {"model": "tools", "tools": WEATHER_TOOL, "temperature": 0, "max_tokens": 60}
    forced = client.chat.completions.create(messages=user("Hi there!"), tool_choice="required", **base).choices[0]
    # The reply was started as a call to the only tool; whatever the model wrote after it, the call is there.
    assert (forced.message.tool_calls and forced.message.tool_calls[0].function.name == "get_weather") or \
        forced.message.content.startswith('<tool_call>{"name": "get_weather", "arguments": ')
    named = client.chat.completions.create(messages=user("Weather in Oslo?"), **base,
                                           tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert json.loads(named.choices[0].message.tool_calls[0].function.arguments) == {"city": "Oslo"}
    plain = client.chat.completions.create(messages=user("Weather in Oslo?"), tool_choice="none", **base)
    assert not plain.choices[0].message.tool_calls


def test_a_conversation_with_a_tool_result_is_accepted(client):
    history = [*user("Weather in Oslo?"),
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_7", "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
               {"role": "tool", "tool_call_id": "call_7", "content": '{"temperature": 3}'}]
    reply = client.chat.completions.create(model="tools", messages=history, tools=WEATHER_TOOL, temperature=0,
                                           max_tokens=20)
    assert reply.choices[0].finish_reason in ("stop", "length", "tool_calls")
    import openai

    wrong = [*history[:2], {**history[2], "tool_call_id": "call_8"}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="tools", messages=wrong, tools=WEATHER_TOOL, max_tokens=5)
    assert "call_8" in info.value.body["message"] and info.value.body["param"] == "messages"
