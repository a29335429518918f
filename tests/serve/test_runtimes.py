"""Exports served outside PyTorch behind the same API: a GGUF file in llama.cpp, an ONNX classifier in onnxruntime."""

import pytest

from tests.serve.conftest import API_KEY

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'tunesmith[gguf]')")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def runtime_server(lora_run, classification_run, tmp_path_factory, settings):
    from tunesmith.export import export_run
    from tunesmith.serve import create_app, load_models, start_in_background

    run, _ = lora_run
    exports = tmp_path_factory.mktemp("runtime-exports")
    gguf = export_run(run, exports / "gguf", fmt="gguf", quantize="q8_0", task_check=False, log=lambda line: None)
    onnx = export_run(classification_run, exports / "onnx", fmt="onnx", task_check=False, log=lambda line: None)
    pool = load_models([f"torch={run}", f"gguf={gguf.folder}", f"f16={gguf.folder / 'model-f16.gguf'}",
                        f"onnx={onnx.folder}", f"reviews={classification_run}"], log=lambda line: None)
    running = start_in_background(create_app(pool, settings))
    yield running, pool
    running.stop()


@pytest.fixture
def client(runtime_server):
    from openai import OpenAI

    return OpenAI(base_url=f"{runtime_server[0].url}/v1", api_key=API_KEY, max_retries=0, timeout=60)


def ask(client, model: str, stream: bool = False):
    messages = [{"role": "user", "content": "hey it's Ana, two small teas to take away please"}]
    if not stream:
        return client.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=0)
    chunks = client.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=0, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_the_f16_gguf_answers_like_the_pytorch_run(client, runtime_server):
    _, pool = runtime_server
    assert pool.get("f16", "generate").runner == "generate_gguf"
    torch_reply, gguf_reply = ask(client, "torch"), ask(client, "f16")
    assert gguf_reply.choices[0].message.content == torch_reply.choices[0].message.content
    assert gguf_reply.usage.prompt_tokens == torch_reply.usage.prompt_tokens
    assert gguf_reply.choices[0].finish_reason in ("stop", "length")


def test_an_export_folder_serves_its_last_type_and_streams_the_same_text(client, runtime_server):
    _, pool = runtime_server
    assert pool.get("gguf", "generate").source.endswith("model-q8_0.gguf")
    assert ask(client, "gguf", stream=True) == ask(client, "gguf").choices[0].message.content


def test_the_onnx_classifier_classifies_like_the_run(runtime_server):
    import httpx

    server, _ = runtime_server
    texts = ["what a wonderful, brilliant film", "a dreadful, boring mess"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60) as http:
        onnx = http.post("/v1/classify", json={"model": "onnx", "input": texts}).json()
        torch = http.post("/v1/classify", json={"model": "reviews", "input": texts}).json()
    assert [r["label"] for r in onnx["data"]] == [r["label"] for r in torch["data"]]
    for a, b in zip(onnx["data"], torch["data"]):
        assert a["score"] == pytest.approx(b["score"], abs=1e-3)
