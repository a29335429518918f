"""Learning from preferences (prompt, chosen, rejected) with TRL: DPO, KTO, and a reward model to score answers."""

from __future__ import annotations

from tunesmith.data import PreparedData, keep_within_length, prepare_splits
from tunesmith.data.tokenize import render
from tunesmith.objectives import Objective, register
from tunesmith.objectives.classification import plain_trainer_args, without_length_grouping


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


def _datasets(data: PreparedData, convert=lambda rows: rows):
    from datasets import Dataset

    return {name: Dataset.from_list(convert(rows)) for name, rows in data.tokenized.items()}


def build_dpo(model, tokenizer, data, trainer_args, callbacks, config):
    from trl import DPOConfig, DPOTrainer

    sets = _datasets(data)
    # With a PEFT model TRL uses the same weights with the adapter switched off as the reference model.
    args = DPOConfig(**without_length_grouping(trainer_args), beta=config.objective.beta, loss_type=config.objective.loss_type)
    trainer = DPOTrainer(model=model, args=args, train_dataset=sets["train"], eval_dataset=sets.get("validation"),
                         processing_class=tokenizer, callbacks=callbacks)
    trainer.test_dataset = sets.get("test")
    return trainer


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

    sets = _datasets(data, lambda rows: _unpaired(rows, config.training.seed))
    args = KTOConfig(**{**trainer_args, "train_sampling_strategy": "sequential"}, beta=config.objective.beta)
    trainer = KTOTrainer(model=model, args=args, train_dataset=sets["train"], eval_dataset=sets.get("validation"),
                         processing_class=tokenizer, callbacks=callbacks)
    trainer.test_dataset = sets.get("test")
    return trainer


def build_reward_model(model, tokenizer, data, trainer_args, callbacks, config):
    from trl import RewardConfig, RewardTrainer

    model.config.pad_token_id = tokenizer.pad_token_id
    sets = _datasets(data)
    args = RewardConfig(**without_length_grouping(trainer_args))
    trainer = RewardTrainer(model=model, args=args, train_dataset=sets["train"], eval_dataset=sets.get("validation"),
                            processing_class=tokenizer, callbacks=callbacks)
    trainer.test_dataset = sets.get("test")
    return trainer


def evaluate_test(trainer, data) -> dict | None:
    if getattr(trainer, "test_dataset", None) is None:
        return None
    return {"test": trainer.evaluate(trainer.test_dataset, metric_key_prefix="test")}


register(Objective("dpo", "preference", "causal_lm", "CAUSAL_LM", prepare, build_dpo, evaluate_test=evaluate_test))
register(Objective("kto", "preference", "causal_lm", "CAUSAL_LM", prepare, build_kto, evaluate_test=evaluate_test))
register(Objective("reward_model", "preference", "seq_cls", "SEQ_CLS", prepare, build_reward_model,
                   model_kwargs=lambda data: {"num_labels": 1}, evaluate_test=evaluate_test))
