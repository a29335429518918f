"""A running server on a free loopback port: two LoRA runs sharing one base, a merged export and a classifier."""

import shutil

import pytest

API_KEY = "test-key-0123456789"
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


@pytest.fixture(scope="session")
def second_run(lora_run, tmp_path_factory):
    """A second LoRA run on the same base: the first run's adapter with its B matrices negated (other outputs)."""
    import torch
    from safetensors.torch import load_file, save_file

    run, _ = lora_run
    other = tmp_path_factory.mktemp("second") / "other"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("checkpoints"))
    weights = other / "adapter" / "adapter_model.safetensors"
    tensors = load_file(weights)
    save_file({k: (-v if "lora_B" in k else v) for k, v in tensors.items()}, weights)
    assert any("lora_B" in k and torch.count_nonzero(v) for k, v in tensors.items())
    return other


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model, tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-classifier")
    config = LlamaConfig.from_pretrained(tiny_model, num_labels=3, id2label=LABELS,
                                         label2id={v: k for k, v in LABELS.items()})
    torch.manual_seed(1)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def classification_export(classification_run, tmp_path_factory):
    from tunesmith.export import export_run

    return export_run(classification_run, tmp_path_factory.mktemp("classifier-export") / "reviews-merged",
                      log=lambda line: None)


@pytest.fixture(scope="session")
def merged_export(lora_run, tmp_path_factory):
    from tunesmith.export import export_run

    run, _ = lora_run
    return export_run(run, tmp_path_factory.mktemp("served-export") / "merged", log=lambda line: None).folder


@pytest.fixture(scope="session")
def pool(lora_run, second_run, merged_export, tiny_classifier, classification_run, classification_export, tool_run):
    from tunesmith.serve import load_models

    run, _ = lora_run
    specs = [f"tiny={run}", f"other={second_run}", f"merged={merged_export}", f"sentiment={tiny_classifier}",
             str(classification_run), str(classification_export.folder), f"tools={tool_run}"]
    return load_models(specs, log=lambda line: None)


@pytest.fixture(scope="session")
def settings():
    from tunesmith.serve import ServeSettings

    return ServeSettings(api_key=API_KEY, max_tokens=64, max_request_bytes=20_000, max_queue=16, max_batch=8)


@pytest.fixture(scope="session")
def server(pool, settings):
    from tunesmith.serve import create_app, start_in_background

    running = start_in_background(create_app(pool, settings))
    yield running
    running.stop()


@pytest.fixture
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0, timeout=60)


@pytest.fixture
def http(server):
    import httpx

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60) as session:
        yield session
