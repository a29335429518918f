"""A lossy export judged on the run's own held-out split: its task metric beside the run's model's, with the paired
95% interval of the difference, and the speed of each on this CPU.

The metric pass uses each runtime's natural mode (PyTorch batched like the run's evaluation, llama.cpp one prompt
at a time); speed is measured the same way for every model: one request at a time on the first SPEED_ITEMS items.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tunesmith.data.tokenize import render
from tunesmith.data.tools import answer_text
from tunesmith.evaluate.compare import compare_replies, metric_row
from tunesmith.inference import generate
from tunesmith.objectives.classification import text_inputs

SPEED_ITEMS = {"generation": 8, "classification": 64}


@dataclass
class TaskReference:
    kind: str  # "generation" or "classification"
    items: list  # conversations (generation) or texts (classification)
    references: list[str]
    outputs: list[str]  # the run's model's replies or predicted labels
    speed: dict  # seconds per request at batch 1 (and generated tokens per second)
    metrics: list[str]  # generation metrics (config.eval.metrics)


def test_examples(config, tokenizer) -> list:
    """The run's test split as its evaluation prepared it (from the data cache)."""
    from tunesmith.objectives import get_objective

    data = get_objective(config.objective.name).prepare_data(config, tokenizer)
    return list(data.splits.get("test") or [])[: config.eval.max_examples]


def task_kind(model_kind: str, examples: list) -> str | None:
    if not examples:
        return None
    if model_kind == "seq_cls" and isinstance(examples[0], dict) and "label" in examples[0]:
        return "classification"
    if model_kind == "causal_lm" and getattr(examples[0], "messages", None):
        return "generation"
    return None


def timed(answer: Callable[[list], list[str]], items: list) -> tuple[list[str], float]:
    start = time.perf_counter()
    outputs = answer(items)
    return outputs, time.perf_counter() - start


def speed_of(answer_one: Callable[[list], list[str]], items: list, count_tokens: Callable | None) -> dict:
    """Seconds per request (one at a time) and, for generation, generated tokens per second."""
    outputs, seconds = timed(lambda chunk: [answer_one([item])[0] for item in chunk], items)
    speed = {"requests": len(items), "seconds_per_request": seconds / max(len(items), 1)}
    if count_tokens is not None:
        speed["tokens_per_second"] = sum(count_tokens(o) for o in outputs) / max(seconds, 1e-9)
    return speed


def labels_of(model) -> list[str]:
    mapping = model.config.id2label
    return [mapping[i] for i in sorted(mapping)]


def torch_answerer(model, tokenizer, config, kind: str, batch_size: int | None = None) -> Callable[[list], list[str]]:
    """items → outputs of a PyTorch model: greedy replies with the run's generation settings, or predicted labels."""
    from tunesmith.evaluate.scoring import class_probabilities
    from tunesmith.evaluate.tasks import argmax

    size = batch_size or config.eval.batch_size
    if kind == "classification":
        labels = labels_of(model)
        return lambda texts: [labels[argmax(p)] for p in class_probabilities(model, tokenizer, texts, size)]
    return lambda convs: generate(model, tokenizer, convs, config.eval.max_new_tokens, size)


def reference_of(model, tokenizer, config, examples: list, kind: str) -> TaskReference:
    """The run's model on the test split, before the export consumes it."""
    if kind == "classification":
        items, references = text_inputs(examples), [str(r["label"]) for r in examples]
    else:
        items = [ex.messages[:-1] for ex in examples]
        references = [answer_text(ex.messages[-1], with_reasoning=False) for ex in examples]
    outputs = torch_answerer(model, tokenizer, config, kind)(items)
    one = torch_answerer(model, tokenizer, config, kind, batch_size=1)
    speed = speed_of(one, items[: SPEED_ITEMS[kind]], token_counter(tokenizer, kind))
    return TaskReference(kind, items, references, outputs, speed, list(config.eval.metrics))


def token_counter(tokenizer, kind: str) -> Callable | None:
    if kind != "generation":
        return None
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def judge_outputs(reference: TaskReference, outputs: list[str], speed: dict) -> dict:
    """The export's metric rows against the run's (run = before, export = after) and its speed ratio."""
    if reference.kind == "classification":
        rows = {"accuracy": _renamed(metric_row(
            [float(o == r) for o, r in zip(reference.outputs, reference.references)],
            [float(o == r) for o, r in zip(outputs, reference.references)]))}
    else:
        rows = {name: _renamed(row) for name, row in
                compare_replies(reference.outputs, outputs, reference.references, reference.metrics).items()}
    same = sum(a == b for a, b in zip(reference.outputs, outputs)) / max(len(outputs), 1)
    return {"metrics": rows, "same_output": same, "speed": speed,
            "speedup": reference.speed["seconds_per_request"] / max(speed["seconds_per_request"], 1e-9)}


def _renamed(row: dict) -> dict:
    return {"run": row["base"], "export": row["tuned"], "delta": row["delta"], "delta_ci95": row["delta_ci95"],
            **({"examples": row["examples"]} if "examples" in row else {})}


def gguf_answerer(path: Path, tokenizer, config) -> Callable[[list], list[str]]:
    """Greedy replies of a GGUF file in llama.cpp to conversations rendered with the run's chat template."""
    from tunesmith.export.gguf_runtime import gguf_replies, open_gguf

    llm = open_gguf(path)

    def answer(conversations: list) -> list[str]:
        prompts = [render(tokenizer, conv, add_generation_prompt=True) for conv in conversations]
        return gguf_replies(llm, prompts, config.eval.max_new_tokens)

    answer.close = llm.close
    return answer


def check_answerer(reference: TaskReference, answer: Callable[[list], list[str]], tokenizer) -> dict:
    """Run `answer` over the test split (metric) and its first items one at a time (speed)."""
    outputs = answer(reference.items)
    speed = speed_of(answer, reference.items[: SPEED_ITEMS[reference.kind]], token_counter(tokenizer, reference.kind))
    return judge_outputs(reference, outputs, speed)


def summary_line(label: str, result: dict) -> str:
    name, row = next(iter(result["metrics"].items()))
    return (f"{label}: {name} {row['export']:.1%} vs the run's {row['run']:.1%} "
            f"(difference {row['delta']:+.1%} [{row['delta_ci95'][0]:+.1%}, {row['delta_ci95'][1]:+.1%}]), "
            f"{result['speedup']:.1f}x the run's speed at one request at a time")


@dataclass
class AnswerContext:
    saved: object  # the run's SavedModel
    dtype: str
    tokenizer: object
    config: object
    kind: str  # "generation" or "classification"


def torch_folder_answerers(folder: Path, context: AnswerContext, fmt) -> dict:
    """A folder PyTorch loads (int8): its model answers like the run's."""
    from tunesmith.models.saved import load_weights

    def make():
        model = load_weights(fmt.saved(context.saved, folder), context.dtype, "cpu")[0]
        return torch_answerer(model, context.tokenizer, context.config, context.kind)

    return {fmt.name: make}


def run_task_check(reference: TaskReference, answerers: dict, tokenizer, log=print) -> dict:
    """{label: judged result} for every answerer (label -> make() -> answer), loaded one at a time and closed
    after use where it can be."""
    results, started = {}, time.perf_counter()
    for label, make in answerers.items():
        log(f"task check: {label} on {len(reference.items)} test examples")
        answer = make()
        try:
            results[label] = check_answerer(reference, answer, tokenizer)
        finally:
            getattr(answer, "close", lambda: None)()
        log("  " + summary_line(label, results[label]))
    return {"split": "test", "examples": len(reference.items), "kind": reference.kind, "run_speed": reference.speed,
            "exports": results, "seconds": time.perf_counter() - started}
