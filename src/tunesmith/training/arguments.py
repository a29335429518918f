"""The trainer's arguments: every hardware-sensitive default of TRL/transformers made explicit from the config."""

from __future__ import annotations

from pathlib import Path

from tunesmith.config import RunConfig


def trainer_args(config: RunConfig, hardware, run: Path, has_validation: bool) -> dict:
    """TrainingArguments for the objective's trainer; every hardware-sensitive default is explicit here."""
    t = config.training
    args = dict(
        output_dir=str(run / "checkpoints"),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=config.eval.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # a float in [0, 1) is a ratio of total steps
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        logging_steps=t.logging_steps,
        eval_strategy="steps" if has_validation else "no",
        eval_on_start=has_validation,  # the untrained model's validation score is the baseline every curve starts at
        eval_steps=config.eval.steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        # file order when not shuffling; else similar lengths together (only padded batches gain from it)
        train_sampling_strategy=("sequential" if not t.shuffle else
                                 "group_by_length" if t.group_by_length else "random"),
        # TRL turns bf16 and activation checkpointing on by default; on a CPU without native bf16 that made
        # training 13x slower, and checkpointing only pays when memory is short. Decided by hardware.py instead.
        bf16=hardware.dtype == "bfloat16" and hardware.device != "cpu",
        fp16=hardware.dtype == "float16" and hardware.device == "cuda",
        activation_checkpointing=False,
        use_cpu=hardware.device == "cpu",
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        # The default hides a NaN/inf step loss behind the running average; the divergence guard must see it.
        logging_nan_inf_filter=False,
        dataloader_num_workers=0,
        # Every trainable parameter takes part in each forward, so DDP can skip its search for unused ones.
        ddp_find_unused_parameters=False,
        max_length=config.data.max_length,
    )
    return {**args, **_best_checkpoint_args(config, has_validation)}


def _best_checkpoint_args(config: RunConfig, has_validation: bool) -> dict:
    """Selecting or stopping on a validation metric needs evaluation and saving on the same steps."""
    t = config.training
    if not (t.keep_best or t.early_stopping_patience) or not has_validation or not t.metric_for_best:
        return {}
    metric = t.metric_for_best if t.metric_for_best.startswith("eval_") else f"eval_{t.metric_for_best}"
    return {"load_best_model_at_end": True, "metric_for_best_model": metric, "save_steps": config.eval.steps,
            "greater_is_better": not metric.endswith(("loss", "perplexity"))}


def early_stopping(config: RunConfig) -> list:
    if not config.training.early_stopping_patience:
        return []
    from transformers import EarlyStoppingCallback

    return [EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience)]
