"""Task metrics on a held-out split, chosen by the objective, for the base and the fine-tuned model side by side.

Generation (sft, grpo, seq2seq): batched greedy decoding, scored with `eval.metrics`. Language modelling
(causal_lm): perplexity. Classification: accuracy, macro-F1, per-class precision/recall/F1, confusion matrices.
Preference objectives: see evaluate/preference.py.
"""

from __future__ import annotations

import math

from tunesmith.data.tools import answer_text
from tunesmith.evaluate.compare import compare_replies, metric_row
from tunesmith.evaluate.outputs import TaskOutputs
from tunesmith.evaluate.scoring import (
    class_probabilities,
    device_of,
    greedy_continuations,
    label_nll,
)
from tunesmith.inference import generate
from tunesmith.metrics.classification import classification_report, macro_f1
from tunesmith.objectives.classification import text_inputs

SAMPLE_TOKENS = 32  # language modelling samples: prompt length, and the longest continuation shown


def generation_settings(config, kind: str = "causal_lm") -> dict:
    prompt = "messages joined by newlines" if kind == "seq2seq" else "the model's chat template"
    return {"decoding": "greedy", "max_new_tokens": config.eval.max_new_tokens, "batch_size": config.eval.batch_size,
            "prompt": prompt}


def reply_function(kind: str, tokenizer, config):
    """Conversations -> replies, with the run's generation settings."""
    e = config.eval
    if kind == "seq2seq":
        return lambda model, conversations: generate_seq2seq(model, tokenizer, conversations, e.max_new_tokens,
                                                             e.batch_size)
    return lambda model, conversations: generate(model, tokenizer, conversations, e.max_new_tokens, e.batch_size)


def generate_seq2seq(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int,
                     batch_size: int) -> list[str]:
    """Encoder-decoder replies; the prompt is joined the way the seq2seq objective trains it."""
    import torch

    prompts = ["\n".join(m["content"] for m in conv) for conv in conversations]
    replies = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
        with torch.inference_mode():
            output = model.generate(**batch.to(device_of(model)), max_new_tokens=max_new_tokens, do_sample=False)
        replies += [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
    return replies


def generation_task(pair, config, examples: list, kind: str) -> tuple[dict, TaskOutputs]:
    conversations = [ex.messages[:-1] for ex in examples]
    references = [answer_text(ex.messages[-1], with_reasoning=False) for ex in examples]
    reply = reply_function(kind, pair.tokenizer, config)
    with pair.base() as base:
        base_replies = reply(base, conversations)
    tuned_replies = reply(pair.tuned, conversations)
    samples = [{"prompt": conv[-1]["content"], "reference": ref, "base": b, "tuned": t}
               for conv, ref, b, t in zip(conversations, references, base_replies, tuned_replies)]
    result = {"examples": len(examples), "generation": generation_settings(config, kind),
              "metrics": compare_replies(base_replies, tuned_replies, references, config.eval.metrics),
              "samples": samples}
    return result, TaskOutputs("generation", conversations, references, base_replies, tuned_replies)


def perplexity(scores: list[tuple[float, int]]) -> float:
    tokens = sum(n for _, n in scores)
    return math.exp(min(sum(nll for nll, _ in scores) / tokens, 50.0)) if tokens else float("nan")


def language_modeling_task(pair, config, rows: list[dict], documents: list[dict]) -> tuple[dict, TaskOutputs]:
    """Perplexity of the test blocks; samples continue the start of a few test documents."""
    pad = pair.tokenizer.pad_token_id if pair.tokenizer.pad_token_id is not None else pair.tokenizer.eos_token_id
    size = config.eval.batch_size
    with pair.base() as base:
        base_scores = label_nll(base, rows, pad, size)
    tuned_scores = label_nll(pair.tuned, rows, pad, size)
    metrics = {"perplexity": metric_row(base_scores, tuned_scores, perplexity, higher_is_better=False,
                                        scale="value")}
    width = min(config.eval.max_new_tokens, SAMPLE_TOKENS)
    result = {"examples": len(rows), "metrics": metrics, "samples": _continuation_samples(pair, documents[:4], width),
              "generation": {**generation_settings(config), "max_new_tokens": width,
                             "prompt": f"the first {SAMPLE_TOKENS} tokens of a test document"}}
    return result, TaskOutputs("language_modeling", [d["text"] for d in documents])


def _continuation_samples(pair, documents: list[dict], width: int, prefix_tokens: int = SAMPLE_TOKENS) -> list[dict]:
    """Both models continue the start of a few test documents; the reference is how the document goes on."""
    tokenizer = pair.tokenizer
    ids = [tokenizer(d["text"], add_special_tokens=False)["input_ids"] for d in documents]
    prompts = [x[:prefix_tokens] for x in ids]
    with pair.base() as base:
        base_out = greedy_continuations(base, tokenizer, prompts, width)
    tuned_out = greedy_continuations(pair.tuned, tokenizer, prompts, width)
    decode = lambda tokens: tokenizer.decode(tokens, skip_special_tokens=True)  # noqa: E731
    return [{"prompt": decode(p), "reference": decode(x[prefix_tokens : prefix_tokens + width]), "base": decode(b),
             "tuned": decode(t)} for p, x, b, t in zip(prompts, ids, base_out, tuned_out)]


def argmax(probabilities: list[float]) -> int:
    return max(range(len(probabilities)), key=probabilities.__getitem__)


def classification_metrics(base_pred: list[str], tuned_pred: list[str], references: list[str],
                           labels: list[str]) -> dict:
    """Accuracy and macro-F1, base vs fine-tuned, from predicted labels."""
    pairs = lambda predicted: list(zip(predicted, references))  # noqa: E731
    f1 = lambda items: macro_f1([p for p, _ in items], [r for _, r in items], labels)  # noqa: E731
    return {"accuracy": metric_row([float(p == r) for p, r in pairs(base_pred)],
                                   [float(p == r) for p, r in pairs(tuned_pred)]),
            "macro_f1": metric_row(pairs(base_pred), pairs(tuned_pred), f1)}


def subset_metrics(outputs: TaskOutputs, keep: list[int], config, labels: list[str] | None) -> dict | None:
    """The task's metrics on the rows `keep` of what the models already produced (no new inference); None for
    tasks whose outputs are not per row (perplexity blocks, preference pairs)."""
    pick = lambda values: [values[i] for i in keep]  # noqa: E731
    if outputs.kind == "classification":
        to_label = lambda probabilities: [labels[argmax(p)] for p in pick(probabilities)]  # noqa: E731
        return classification_metrics(to_label(outputs.base), to_label(outputs.tuned), pick(outputs.references),
                                      labels)
    if outputs.kind == "generation":
        return compare_replies(pick(outputs.base), pick(outputs.tuned), pick(outputs.references), config.eval.metrics)
    return None


def classification_task(pair, config, rows: list[dict], labels: list[str]) -> tuple[dict, TaskOutputs]:
    texts, references = text_inputs(rows), [r["label"] for r in rows]
    with pair.base() as base:
        base_probs = class_probabilities(base, pair.tokenizer, texts, config.eval.batch_size)
    tuned_probs = class_probabilities(pair.tuned, pair.tokenizer, texts, config.eval.batch_size)
    base_pred = [labels[argmax(p)] for p in base_probs]
    tuned_pred = [labels[argmax(p)] for p in tuned_probs]
    metrics = classification_metrics(base_pred, tuned_pred, references, labels)
    samples = [{"prompt": shown_text(text), "reference": ref, "base": b, "tuned": t}
               for text, ref, b, t in zip(texts, references, base_pred, tuned_pred)]
    result = {"examples": len(rows), "metrics": metrics, "samples": samples,
              "classification": {"base": classification_report(base_pred, references, labels),
                                 "tuned": classification_report(tuned_pred, references, labels)}}
    return result, TaskOutputs("classification", texts, references, base_probs, tuned_probs)


def shown_text(text) -> str:
    """A classifier's input as the report shows it: the text, or a sentence pair's two texts."""
    return "\n\n".join(text) if isinstance(text, tuple) else text


def limited(config, data, split: str) -> list:
    return list(data.splits.get(split) or [])[: config.eval.max_examples]


def generation(pair, config, objective, data, split: str):
    """Greedy answers of both models to the split's prompts, scored with eval.metrics."""
    return generation_task(pair, config, limited(config, data, split), objective.model_kind)


def classification(pair, config, objective, data, split: str):
    return classification_task(pair, config, limited(config, data, split), data.labels)


def language_modeling(pair, config, objective, data, split: str):
    rows = data.tokenized[split][: config.eval.max_examples]
    return language_modeling_task(pair, config, rows, list(data.splits.get(split) or []))
