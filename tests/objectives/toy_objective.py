"""A whole objective in one file, outside the package: it registers itself and owns every fact about itself.

SFT on padded batches with transformers' plain Trainer, evaluated on whether the reply starts with the reference's
first word. Nothing in tunesmith names it; tests/objectives/test_toy_objective.py trains, evaluates and serves it
through the CLI.
"""

from __future__ import annotations

from tunesmith.data import prepare_chat_data
from tunesmith.evaluate.compare import metric_row
from tunesmith.evaluate.outputs import TaskOutputs
from tunesmith.inference import generate
from tunesmith.objectives import Objective, register, splits_as_datasets, trainer_on

NAME = "toy_first_word"


def prepare(config, tokenizer):
    return prepare_chat_data(config.data, tokenizer, "assistant")


def build_trainer(model, tokenizer, data, trainer_args, callbacks, config):
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    args = TrainingArguments(**{k: v for k, v in trainer_args.items() if k != "max_length"})
    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    return trainer_on(Trainer, splits_as_datasets(data), model=model, args=args, data_collator=collate,
                      callbacks=callbacks)


def first_word(text: str) -> str:
    return (text.split() or [""])[0].strip('{}":,').lower()


def evaluate_first_word(pair, config, objective, data, split):
    """Share of replies whose first word is the reference's, base vs fine-tuned, with tunesmith's intervals."""
    examples = list(data.splits[split])[: config.eval.max_examples]
    prompts = [ex.messages[:-1] for ex in examples]
    references = [ex.messages[-1]["content"] for ex in examples]
    reply = lambda model: generate(model, pair.tokenizer, prompts, config.eval.max_new_tokens)  # noqa: E731
    with pair.base() as base:
        base_replies = reply(base)
    tuned_replies = reply(pair.tuned)
    hits = lambda replies: [float(first_word(r) == first_word(ref)) for r, ref in zip(replies, references)]  # noqa
    result = {"examples": len(examples), "metrics": {"first_word": metric_row(hits(base_replies), hits(tuned_replies))},
              "samples": [{"prompt": p[-1]["content"], "reference": ref, "base": b, "tuned": t}
                          for p, ref, b, t in zip(prompts, references, base_replies, tuned_replies)]}
    return result, TaskOutputs("generation", prompts, references, base_replies, tuned_replies)


register(Objective(NAME, "chat", "causal_lm", "CAUSAL_LM", prepare, build_trainer, evaluation=evaluate_first_word,
                   serving="generate", test_loss=True))
