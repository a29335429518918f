"""Supervised fine-tuning on chat examples with TRL's SFTTrainer; loss only on the assistant's tokens."""

from __future__ import annotations

from tunesmith.data import PreparedData, prepare_chat_data
from tunesmith.objectives import Objective, register


def prepare(config, tokenizer) -> PreparedData:
    return prepare_chat_data(config.data, tokenizer, config.objective.loss_on)


def build_trainer(model, tokenizer, data: PreparedData, trainer_args: dict, callbacks, config=None):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    # Examples arrive tokenized with labels (-100 outside the assistant's replies), so TRL uses them as they are
    # and the chat template is applied once, by tunesmith.data, the same way inference applies it.
    train = Dataset.from_list(data.tokenized["train"])
    validation = data.tokenized.get("validation")
    args = SFTConfig(**trainer_args, completion_only_loss=False, assistant_only_loss=False, packing=False)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=Dataset.from_list(validation) if validation else None,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


register(Objective("sft", "chat", "causal_lm", "CAUSAL_LM", prepare, build_trainer))
