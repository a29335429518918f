"""Supervised fine-tuning on chat examples; loss only on the assistant's tokens.

Decoders whose attention transformers can swap train padding-free (fast/padding_free.py) with transformers'
Trainer, the head projected in the loss (fast/head_loss.py) and the lean norms and SwiGLU products of
fast/fused_layers.py; others use TRL's SFTTrainer with padded batches. Both see the same tokens and labels and
compute the same loss (tests/training/test_fast_path.py)."""

from __future__ import annotations

from tunesmith.config import FastConfig
from tunesmith.data import PreparedData, prepare_chat_data
from tunesmith.objectives.registry import Objective, register


def prepare(config, tokenizer) -> PreparedData:
    return prepare_chat_data(config.data, tokenizer, config.objective.loss_on,
                             config.objective.train_reasoning)


def padding_free_trainer(model, tokenizer, train, validation, trainer_args: dict, callbacks, fast: FastConfig):
    from transformers import Trainer, TrainingArguments

    from tunesmith.fast.fused_layers import fuse_layers
    from tunesmith.fast.head_loss import chunked_head_loss
    from tunesmith.fast.padding_free import (
        PaddingFreeCollator,
        label_loss,
        language_model,
    )

    # A flattened row has no padding, so counting every input token counts exactly the real ones.
    args = {k: v for k, v in trainer_args.items() if k != "max_length"} | {"include_num_input_tokens_seen": "all"}
    head_loss = chunked_head_loss(language_model(model)) if fast.head_loss else None
    if fast.lean_layers:
        fuse_layers(language_model(model))  # norms and SwiGLU products that keep less for backward
    return Trainer(model=model, args=TrainingArguments(**args), train_dataset=train, eval_dataset=validation,
                   data_collator=PaddingFreeCollator(head_loss is not None, fast.shared_prefix),
                   compute_loss_func=head_loss or label_loss, processing_class=tokenizer, callbacks=callbacks)


def sft_trainer(model, tokenizer, train, validation, trainer_args: dict, callbacks, fast: FastConfig):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**trainer_args, completion_only_loss=False, assistant_only_loss=False, packing=False)
    return SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=validation, processing_class=tokenizer,
                      callbacks=callbacks)


def build_trainer(model, tokenizer, data: PreparedData, trainer_args: dict, callbacks, config=None):
    from datasets import Dataset

    from tunesmith.fast.padding_free import use_varlen_attention

    # Examples arrive tokenized with labels (-100 outside the assistant's replies), so the trainer uses them as they
    # are and the chat template is applied once, by tunesmith.data, the same way inference applies it.
    train = Dataset.from_list(data.tokenized["train"])
    validation = Dataset.from_list(data.tokenized["validation"]) if data.tokenized.get("validation") else None
    fast = config.fast if config is not None else FastConfig()
    build = padding_free_trainer if fast.padding_free and use_varlen_attention(model) else sft_trainer
    return build(model, tokenizer, train, validation, trainer_args, callbacks, fast)


register(Objective("sft", "chat", "causal_lm", "CAUSAL_LM", prepare, build_trainer, padding_free=True,
                   replay=("file", "base")))
