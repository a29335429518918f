"""Encoder-decoder models (T5 style): the prompt goes to the encoder, the answer is the decoder's target."""

from __future__ import annotations

from tunesmith.data import PreparedData, keep_within_length, load_splits
from tunesmith.objectives.classification import plain_trainer_args
from tunesmith.objectives.registry import (
    Objective,
    register,
    splits_as_datasets,
    trainer_on,
)


def prepare(config, tokenizer) -> PreparedData:
    splits, report = load_splits(config.data)
    prepared = PreparedData({}, data_report=report)
    for name, examples in splits.items():
        prompts = ["\n".join(m["content"] for m in ex.messages[:-1]) for ex in examples]
        inputs = tokenizer(prompts)["input_ids"]
        targets = tokenizer(text_target=[ex.messages[-1]["content"] for ex in examples])["input_ids"]
        lengths = [max(len(i), len(t)) for i, t in zip(inputs, targets)]
        keep = keep_within_length(name, [ex.source for ex in examples], lengths, config.data, report)
        prepared.splits[name] = [examples[i] for i in keep]
        prepared.tokenized[name] = [{"input_ids": inputs[i], "labels": targets[i]} for i in keep]
        prepared.report[name] = {"examples": len(keep), "tokens": sum(len(inputs[i]) + len(targets[i]) for i in keep),
                                 "loss_tokens": sum(len(targets[i]) for i in keep), "longest": max(lengths, default=0)}
    return prepared


def build_trainer(model, tokenizer, data, trainer_args, callbacks, config):
    from transformers import (
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
    )

    return trainer_on(Seq2SeqTrainer, splits_as_datasets(data), model=model,
                      args=Seq2SeqTrainingArguments(**plain_trainer_args(trainer_args)),
                      data_collator=DataCollatorForSeq2Seq(tokenizer, model=model), callbacks=callbacks)


# Served by transformers directly: `tunesmith serve` runs causal LMs and classifiers.
register(Objective("seq2seq", "chat", "seq2seq", "SEQ_2_SEQ_LM", prepare, build_trainer, serving=None, test_loss=True))
