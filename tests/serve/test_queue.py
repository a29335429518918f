"""Queueing and batching, made deterministic by holding the model worker while requests arrive."""

import threading
import time

import httpx

PROMPTS = ["Order for Lucia: 9 x cappuccino, size big, delivered.", "one tea", "Tom here - two big bagels",
           "Mia wants 3 small flat whites, delivered to the office please"]


def wait_until(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_full_queue_answers_503_and_waiting_requests_run_as_one_batch(pool, lora_run):
    from tunesmith.inference import generate
    from tunesmith.models.saved import load_run
    from tunesmith.serve import ServeSettings, create_app, start_in_background
    from tunesmith.serve.generation import run_generation

    release, batches = threading.Event(), []

    def held_first_batch(batch, metrics):
        batches.append(len(batch))
        if len(batches) == 1:
            release.wait(60)
        run_generation(batch, metrics)

    app = create_app(pool, ServeSettings(max_queue=3, max_batch=8), runners={"generate": held_first_batch})
    server = start_in_background(app)
    answers = {}

    def ask(prompt):
        body = {"model": "tiny", "messages": [{"role": "user", "content": prompt}], "temperature": 0, "max_tokens": 24}
        answers[prompt] = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120)

    try:
        threads = [threading.Thread(target=ask, args=(prompt,)) for prompt in PROMPTS]
        threads[0].start()
        wait_until(lambda: batches == [1])  # the worker holds the first request
        for thread in threads[1:]:
            thread.start()
        wait_until(lambda: httpx.get(f"{server.url}/health").json()["queue_depth"] == 3)
        overflow = httpx.post(f"{server.url}/v1/chat/completions", json={"model": "tiny", "messages": [
            {"role": "user", "content": "one more"}]}, timeout=10)
        assert overflow.status_code == 503 and overflow.headers["Retry-After"] == "1"
        assert overflow.json()["error"]["code"] == "queue_full"
        release.set()
        for thread in threads:
            thread.join(120)
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        release.set()
        server.stop()
    assert batches == [1, 3]  # the three waiting requests shared one batch
    run, _ = lora_run
    loaded = load_run(run)
    model, tokenizer = loaded.model, loaded.tokenizer
    alone = generate(model, tokenizer, [[{"role": "user", "content": p}] for p in PROMPTS], 24, batch_size=1)
    assert [answers[p].json()["choices"][0]["message"]["content"] for p in PROMPTS] == alone
    assert "tunesmith_rejected_total 1.0" in metrics
