"""Models served outside PyTorch: a GGUF file in llama.cpp (llama-cpp-python) for generation, an ONNX classifier in
onnxruntime for /v1/classify. Each has a loader (folder → ServedModel) and a batch runner the engine calls, picked
by ServedModel.runner."""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.serve.generation import RowTracker, deliver
from tunesmith.serve.models import SafeTokenizer, ServedModel

GGUF_CONTEXT = 4096  # tokens of KV cache at most: a file's training context can be far more than a CPU needs


def load_gguf(name: str, path: Path, system_prompt: str | None) -> ServedModel:
    from tunesmith.export.gguf_runtime import gguf_tokenizer, open_gguf

    probe = open_gguf(path, context=8)  # reads the file's training context, then the real one is opened
    trained = probe.metadata.get(f"{probe.metadata.get('general.architecture')}.context_length")
    context = min(int(trained or GGUF_CONTEXT), GGUF_CONTEXT)
    probe.close()
    llm = open_gguf(path, context=context)
    tokenizer = gguf_tokenizer(path)
    eos = tuple(dict.fromkeys(i for i in (tokenizer.eos_token_id, llm.token_eos()) if i is not None and i >= 0))
    return ServedModel(name, "generate", llm, SafeTokenizer(tokenizer), str(path), system_prompt=system_prompt,
                       context_length=context, eos_ids=eos, runner="generate_gguf")


def run_gguf_generation(batch: list, metrics) -> None:
    """llama.cpp generates one sequence at a time; rows are streamed and finished like the PyTorch runner's."""
    served = batch[0].served
    trackers, owners, prompt_tokens = [], [], 0
    started = time.perf_counter()
    for job in batch:
        for index in range(job.work.rows):
            prompt = list(job.work.prompts[index // job.work.n])
            on_text = (lambda text, job=job, index=index: job.send("delta", index, text)) if job.stream else None
            tracker = RowTracker(served.tokenizer.decode, job.work, served.eos_ids, on_text,
                                 lambda job=job: job.cancelled)
            _generate_row(served.model, prompt, tracker, job.work)
            trackers.append(tracker)
            owners.append((job, index))
            prompt_tokens += len(prompt)
    deliver(batch, trackers, owners)
    metrics.observe_batch(served.name, len(trackers), prompt_tokens, sum(len(t.tokens) for t in trackers),
                          time.perf_counter() - started)


def _generate_row(llm, prompt: list[int], tracker: RowTracker, work) -> None:
    if work.seed is not None:
        llm.set_seed(work.seed)
    # top_k 0: no top-k cut (OpenAI's API has none); repeat_penalty 1: none, like the PyTorch runner.
    sampling = {"temp": work.temperature, "top_p": work.top_p if work.temperature > 0 else 1.0, "top_k": 0,
                "repeat_penalty": 1.0}
    for token in llm.generate(prompt, reset=True, **sampling):
        tracker.add(token)
        if tracker.done:
            return
    tracker.finish("length")


def load_onnx_classifier(name: str, folder: Path) -> ServedModel:
    from transformers import AutoConfig, AutoTokenizer

    from tunesmith.export.onnx import onnx_session

    config = AutoConfig.from_pretrained(folder)
    labels = tuple(config.id2label[i] for i in range(config.num_labels))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return ServedModel(name, "classify", onnx_session(folder), SafeTokenizer(tokenizer), str(folder),
                       context_length=tokenizer.model_max_length if tokenizer.model_max_length < 10**6 else 512,
                       labels=labels, runner="classify_onnx")


def run_onnx_classification(batch: list, metrics) -> None:
    """Each text alone through the graph (no padding: decoder classifiers read the last token), then the same
    label/probabilities answer as the PyTorch classifier."""
    from tunesmith.export.onnx import onnx_logits
    from tunesmith.serve.classify import _scores

    served = batch[0].served
    started, tokens = time.perf_counter(), 0
    for job in batch:
        results = []
        for text in job.work:
            ids = served.tokenizer.encode(text, special=True)[: served.context_length]
            tokens += len(ids)
            results.append(_scores(served.labels, onnx_logits(served.model, ids)[0].tolist()))
        job.send("done", results)
    metrics.observe_batch(served.name, sum(len(job.work) for job in batch), tokens, 0, time.perf_counter() - started)


def export_runtime_plan(folder: Path, info: dict) -> tuple[str, Path] | None:
    """("llama_cpp", file) or ("onnx", folder) for exports served outside PyTorch; None for the others."""
    fmt = info.get("format")
    if fmt in ("gguf", "ollama"):
        return "llama_cpp", folder / info["serve_file"]
    if fmt in ("onnx", "onnx_int8"):
        if info.get("model_kind") != "seq_cls":
            raise UserError(f"{folder} is an ONNX decoder export (no KV cache), which this server does not generate "
                            "with", hint="serve the run itself, or export it as gguf or safetensors")
        return "onnx", folder
    return None
