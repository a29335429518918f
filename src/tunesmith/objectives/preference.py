"""Learning from preferences (prompt, chosen, rejected) with TRL: DPO, KTO, and a reward model to score answers."""

from __future__ import annotations

from tunesmith.data import PreparedData, keep_within_length, prepare_splits
from tunesmith.data.tokenize import render
from tunesmith.objectives.classification import without_length_grouping
from tunesmith.objectives.registry import (
    Objective,
    register,
    splits_as_datasets,
    trainer_on,
)


def _plain(messages) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def prepare(config, tokenizer) -> PreparedData:
    """Pairs in TRL's conversational shape, checked against data.max_length with the model's chat template."""
    splits, report = prepare_splits(config.data, "preference")
    prepared = PreparedData({}, data_report=report)
    for name, ds in splits.items():
        rows = [{"prompt": _plain(r["prompt"]), "chosen": [{"role": "assistant", "content": r["chosen"]}],
                 "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in ds]
        lengths = [max(len(tokenizer(render(tokenizer, row["prompt"] + row[side]), add_special_tokens=False)
                           ["input_ids"]) for side in ("chosen", "rejected")) for row in rows]
        keep = keep_within_length(name, list(ds["_source"]), lengths, config.data, report)
        prepared.splits[name] = [ds[i] for i in keep]
        prepared.tokenized[name] = [rows[i] for i in keep]
        prepared.report[name] = {"examples": len(keep), "tokens": sum(lengths[i] for i in keep),
                                 "loss_tokens": sum(lengths[i] for i in keep), "longest": max(lengths, default=0)}
    return prepared


def build_dpo(model, tokenizer, data, trainer_args, callbacks, config):
    from trl import DPOConfig, DPOTrainer

    # With a PEFT model TRL uses the same weights with the adapter switched off as the reference model.
    args = DPOConfig(**without_length_grouping(trainer_args), beta=config.objective.beta,
                     loss_type=config.objective.loss_type)
    return trainer_on(DPOTrainer, splits_as_datasets(data), model=model, args=args, processing_class=tokenizer,
                      callbacks=callbacks)


def _unpaired(rows: list[dict], seed: int = 0) -> list[dict]:
    """KTO learns from single answers marked desirable or not: each pair gives one of each, shuffled once here
    because KTO's KL estimate needs a fixed (sequential) batch order."""
    import random

    unpaired = [{"prompt": r["prompt"], "completion": r[side], "label": side == "chosen"}
                for r in rows for side in ("chosen", "rejected")]
    random.Random(seed).shuffle(unpaired)
    return unpaired


def build_kto(model, tokenizer, data, trainer_args, callbacks, config):
    from trl import KTOConfig, KTOTrainer

    sets = splits_as_datasets(data, lambda rows: _unpaired(rows, config.training.seed))
    args = KTOConfig(**{**trainer_args, "train_sampling_strategy": "sequential"}, beta=config.objective.beta)
    return trainer_on(KTOTrainer, sets, model=model, args=args, processing_class=tokenizer, callbacks=callbacks)


def build_reward_model(model, tokenizer, data, trainer_args, callbacks, config):
    from trl import RewardConfig, RewardTrainer

    model.config.pad_token_id = tokenizer.pad_token_id
    args = RewardConfig(**without_length_grouping(trainer_args))
    return trainer_on(RewardTrainer, splits_as_datasets(data), model=model, args=args, processing_class=tokenizer,
                      callbacks=callbacks)


# Preference losses can start at or below zero, so only a NaN/inf loss counts as divergence (cross_entropy=False).
register(Objective("dpo", "preference", "causal_lm", "CAUSAL_LM", prepare, build_dpo, evaluation="preference",
                   test_loss=True, cross_entropy=False, sequences_per_example=2))
register(Objective("kto", "preference", "causal_lm", "CAUSAL_LM", prepare, build_kto, evaluation="preference",
                   test_loss=True, cross_entropy=False))
register(Objective("reward_model", "preference", "seq_cls", "SEQ_CLS", prepare, build_reward_model,
                   evaluation="preference", serving="score", model_kwargs=lambda data: {"num_labels": 1},
                   test_loss=True, cross_entropy=False, sequences_per_example=2))
