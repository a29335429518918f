"""Sequence classification (sentiment, intent, ...) with a classification head on an encoder or a decoder.

Head-only training (method head) caches the frozen backbone's features once, so every epoch after the first
costs only the head's matrix multiply.
"""

from __future__ import annotations

from tunesmith.data import PreparedData, keep_within_length, prepare_splits, split_stats
from tunesmith.data.examples import length_limit
from tunesmith.errors import UserError
from tunesmith.metrics.classification import accuracy, macro, per_class
from tunesmith.objectives.registry import (
    Objective,
    register,
    splits_as_datasets,
    trainer_on,
)


def label_names(cfg, train) -> list[str]:
    return list(cfg.labels) if cfg.labels else sorted(set(train["label"]))


def prepare(config, tokenizer) -> PreparedData:
    splits, report = prepare_splits(config.data, "classification")
    labels = label_names(config.data, splits["train"])
    ids = {label: i for i, label in enumerate(labels)}
    prepared = PreparedData({}, data_report=report, labels=labels)
    for name, ds in splits.items():
        unknown = [(s, label) for s, label in zip(ds["_source"], ds["label"]) if label not in ids]
        if unknown:
            raise _unknown_label(*unknown[0], config.data.labels)
        texts = text_inputs(ds)
        encoded = encode(tokenizer, texts)
        keep = keep_within_length(name, list(ds["_source"]), [len(x) for x in encoded], config.data, report)
        encoded = truncated(tokenizer, texts, encoded, length_limit(config.data)[0])
        rows = [{"input_ids": encoded[i], "labels": ids[ds[i]["label"]]} for i in keep]
        prepared.splits[name] = [ds[i] for i in keep]
        prepared.tokenized[name] = rows
        prepared.report[name] = split_stats(rows)
    if len(labels) < 2:
        raise UserError(f"{config.data.train}: classification needs at least two labels, found {labels}")
    return prepared


def _unknown_label(source: str, label: str, given: list[str] | None) -> UserError:
    if given is None:
        return UserError(f"{source}: label '{label}' does not occur in the training data",
                         hint="add training examples for it, or set data.labels")
    return UserError(f"{source}: label '{label}' is not in data.labels ({', '.join(given)})",
                     hint="add it to data.labels; a run continued from another (model.from_run) keeps the parent's "
                          "head and labels, so give the first run every label the sequence will need")


def text_inputs(rows) -> list:
    """Each row's input: its text, or (text, text_pair) for a sentence-pair task (every row then has a pair)."""
    rows = [{"text": r["text"], "text_pair": r.get("text_pair"), "_source": r.get("_source", "?")} for r in rows]
    paired = [r for r in rows if r["text_pair"] is not None]
    if paired and len(paired) != len(rows):
        missing = next(r for r in rows if r["text_pair"] is None)
        raise UserError(f"{missing['_source']}: this row has no second text, but other rows are sentence pairs",
                        hint="give every row both texts (text and text_pair, or sentence1 and sentence2)")
    return [(r["text"], r["text_pair"]) for r in rows] if paired else [r["text"] for r in rows]


PAIR_JOIN = "\n\n"  # between a pair's texts for tokenizers with no pair template of their own (decoders)


def has_pair_template(tokenizer) -> bool:
    """Whether the tokenizer marks a pair itself ([CLS] a [SEP] b [SEP]) rather than running the texts together."""
    together = tokenizer("a", "b")["input_ids"]
    return together != tokenizer("a")["input_ids"] + tokenizer("b", add_special_tokens=False)["input_ids"]


def tokenizer_args(tokenizer, texts: list) -> tuple:
    """Positional arguments for tokenizer(...): (texts,), or (firsts, seconds) for pairs; a tokenizer without a
    pair template gets each pair joined by PAIR_JOIN (a long pair then loses the end of its second text)."""
    if not texts or not all(isinstance(t, tuple) for t in texts):
        return (list(texts),)
    if has_pair_template(tokenizer):
        return [t for t, _ in texts], [p for _, p in texts]
    return ([PAIR_JOIN.join(t) if isinstance(t, tuple) else t for t in texts],)


def encode(tokenizer, texts: list, **options) -> list[list[int]]:
    """Token ids of texts or (text, text_pair) tuples, with the tokenizer's special tokens (and separator); a list
    mixing the two (requests batched together) is encoded item by item."""
    if len({isinstance(t, tuple) for t in texts}) > 1:
        return [encode(tokenizer, [t], **options)[0] for t in texts]
    return tokenizer(*tokenizer_args(tokenizer, texts), add_special_tokens=True, **options)["input_ids"]


def truncated(tokenizer, texts: list, encoded: list[list[int]], limit: int) -> list[list[int]]:
    """The rows over `limit` tokens encoded again with the tokenizer's truncation (its special tokens kept; a pair
    loses tokens from its longer text first)."""
    long = [i for i, row in enumerate(encoded) if len(row) > limit]
    if not long:
        return encoded
    cut = encode(tokenizer, [texts[i] for i in long], truncation=True, max_length=limit)
    out = list(encoded)
    for i, row in zip(long, cut):
        out[i] = row
    return out


def model_kwargs(data: PreparedData) -> dict:
    return {"num_labels": len(data.labels), "id2label": dict(enumerate(data.labels)),
            "label2id": {label: i for i, label in enumerate(data.labels)}}


def class_weights(data: PreparedData, mode: str):
    """Inverse label frequency, normalised to mean 1; None when not asked for."""
    if mode != "balanced":
        return None
    import torch

    counts = torch.bincount(torch.tensor([r["labels"] for r in data.tokenized["train"]]), minlength=len(data.labels))
    weights = counts.sum() / (len(counts) * counts.clamp(min=1).float())
    return weights / weights.mean()


def classification_metrics(predictions, references, labels: list[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1 from integer predictions, flat for the Trainer's log
    (computed by evaluate/classification.py, the one place these metrics live)."""
    classes = per_class(predictions, references, list(range(len(labels))))
    metrics = {"accuracy": accuracy(predictions, references)}
    for i, name in enumerate(labels):
        metrics.update({f"{field}_{name}": classes[i][field] for field in ("precision", "recall", "f1")})
    metrics["macro_f1"] = macro({i: classes[i] for i in range(len(labels))}, "f1")
    return metrics


def metric_function(labels: list[str]):
    def compute(eval_prediction) -> dict:
        logits = eval_prediction.predictions[0] if isinstance(eval_prediction.predictions, tuple) \
            else eval_prediction.predictions
        return classification_metrics(logits.argmax(-1).tolist(), eval_prediction.label_ids.tolist(), labels)

    return compute


def plain_trainer_args(trainer_args: dict) -> dict:
    """TrainingArguments for transformers' Trainer: drop the TRL-only field."""
    return {k: v for k, v in trainer_args.items() if k != "max_length"}


def without_length_grouping(trainer_args: dict) -> dict:
    """For datasets without an `input_ids` column (pairs, prompts, features), where lengths cannot be grouped."""
    return {**trainer_args, "train_sampling_strategy": "random"}


def build_trainer(model, tokenizer, data: PreparedData, trainer_args: dict, callbacks, config):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from tunesmith.fast.head_cache import HeadOnly, feature_datasets, only_head_trains

    model.config.pad_token_id = tokenizer.pad_token_id  # decoder backbones pool at the last non-pad token
    weights = class_weights(data, config.objective.class_weights)
    args = plain_trainer_args(trainer_args)
    common = dict(compute_metrics=metric_function(data.labels), callbacks=callbacks)
    if config.fast.head_cache and only_head_trains(model):
        args = {**without_length_grouping(args), "include_num_input_tokens_seen": "no"}
        return trainer_on(Trainer, feature_datasets(model, tokenizer, data), model=HeadOnly.of(model, weights),
                          args=TrainingArguments(**args), **common)
    return trainer_on(Trainer, splits_as_datasets(data), model=model, args=TrainingArguments(**args),
                      data_collator=DataCollatorWithPadding(tokenizer), compute_loss_func=weighted_loss(weights),
                      **common)


def weighted_loss(weights):
    """Cross-entropy with per-class weights, or None for the model's own loss."""
    if weights is None:
        return None
    import torch

    def loss(outputs, labels, num_items_in_batch=None):
        return torch.nn.functional.cross_entropy(outputs.logits, labels, weight=weights.to(outputs.logits.device))

    return loss


register(Objective("classification", "classification", "seq_cls", "SEQ_CLS", prepare, build_trainer,
                   evaluation="classification", serving="classify", model_kwargs=model_kwargs, test_loss=True,
                   batch_size=16, can_truncate=True, best_metric="eval_accuracy"))
