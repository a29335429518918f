"""The training stage: config → hardware → model → data → method → objective's trainer → run directory."""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith.config import RunConfig
from tunesmith.errors import UserError
from tunesmith.runs import create_run, latest_checkpoint, open_run, update_manifest, write_json


class RunLog:
    """Prints to the console and keeps the same lines in the run's train.log."""

    def __init__(self, console):
        self.console = console
        self.path: Path | None = None
        self.pending: list[str] = []

    def attach(self, run: Path) -> None:
        self.path = run / "train.log"
        self._append(self.pending)
        self.pending = []

    def _append(self, lines: list[str]) -> None:
        with self.path.open("a") as handle:
            handle.writelines(f"{time.strftime('%H:%M:%S')} {line}\n" for line in lines)

    def __call__(self, line: str) -> None:
        self.console.print(line, highlight=False, markup=False)
        self._append([line]) if self.path else self.pending.append(line)


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
    if not (t.keep_best or t.early_stopping_patience) or not has_validation:
        return {}
    metric = t.metric_for_best if t.metric_for_best.startswith("eval_") else f"eval_{t.metric_for_best}"
    return {"load_best_model_at_end": True, "metric_for_best_model": metric, "save_steps": config.eval.steps,
            "greater_is_better": not metric.endswith(("loss", "perplexity"))}


def _check_memory(plan, hardware, log) -> None:
    log(f"memory plan: {plan.describe()}; available {hardware.available_memory_gb:.1f} GiB")
    if plan.total_gb > hardware.available_memory_gb:
        raise UserError(
            f"this run needs about {plan.total_gb:.1f} GiB but only {hardware.available_memory_gb:.1f} GiB is free",
            hint="lower training.batch_size or data.max_length, or use method.name=lora",
        )


def _dropout_overrides(source, rate: float | None) -> dict:
    """from_pretrained kwargs that set every dropout rate the model's config has."""
    if rate is None:
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source.path)
    return {k: rate for k in config.to_dict() if "dropout" in k and isinstance(getattr(config, k), float)}


def _load_model(config: RunConfig, source, hardware, method, objective, data, log):
    from tunesmith.methods import count_parameters
    from tunesmith.models import load_model
    from tunesmith.models.plan import plan_loaded_model

    kwargs = {**_dropout_overrides(source, config.training.dropout),
              **(method.load_kwargs(config) if method.load_kwargs else {}),
              **(objective.model_kwargs(data) if objective.model_kwargs else {})}
    model = load_model(source, objective.model_kind, hardware.dtype, config.model.revision,
                       config.model.trust_remote_code, **kwargs)
    model = method.apply(model, config.method, objective.task).to(hardware.device)
    trainable, total = count_parameters(model)
    log(f"parameters: {trainable:,} trainable of {total:,} ({100 * trainable / total:.2f}%), method {method.name}")
    _check_memory(plan_loaded_model(config, model, method, data, hardware), hardware, log)
    return model


def _save_artifact(model, tokenizer, run: Path, artifact: str) -> Path:
    import os
    import shutil

    target = run / artifact
    tmp = run / f".{artifact}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)
    return target


def _release_optimizer(trainer) -> None:
    """Drop the optimizer and its state (AdamW: two moments per trained weight, 1 GB for smollm2-135m fully
    trained) once training is over, so the reload check's and the evaluation's model copies fit in what it held
    instead of adding to the run's peak."""
    import gc

    trainer.accelerator.free_memory()
    trainer.optimizer = trainer.lr_scheduler = None
    trainer.callback_handler.optimizer = trainer.callback_handler.lr_scheduler = None
    gc.collect()


def _final_eval(trainer, model, config: RunConfig, data, objective, tokenizer, log) -> dict | None:
    """Base vs fine-tuned on the test split, forgetting and bias (tunesmith.evaluate), plus the trainer's own test
    loss where the objective defines one."""
    from tunesmith.evaluate import evaluate_trained

    test = objective.evaluate_test(trainer, data) if objective.evaluate_test else None
    if not config.eval.compare_with_base:
        return test
    return {**evaluate_trained(model, tokenizer, config, objective, data, log), **(test or {})}


def _early_stopping(config: RunConfig) -> list:
    if not config.training.early_stopping_patience:
        return []
    from transformers import EarlyStoppingCallback

    return [EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience)]


# The "exploding loss" rule assumes a positive cross-entropy that starts high and falls; preference and RL losses
# can start at or below zero, so for them only a NaN/inf loss counts as divergence.
CROSS_ENTROPY = {"sft", "causal_lm", "classification", "seq2seq"}


def _end_early(run: Path, step: int, ended, log) -> Path:
    """Record why a callback ended the run; a diverged run is the user's to fix, so it raises."""
    from tunesmith.training.callbacks import DivergenceGuard, TrainingDiverged

    log(f"{ended.status} at {ended.reason}")
    if not isinstance(ended, DivergenceGuard):
        update_manifest(run, status=ended.status, step=step, reason=ended.reason)
        return run
    steps = {int(p.name.split("-")[-1]): p for p in (run / "checkpoints").glob("checkpoint-*")
             if p.name.split("-")[-1].isdigit()}
    checkpoint = steps[max(good)] if (good := [s for s in steps if s <= ended.verified_step]) else None
    update_manifest(run, status=ended.status, step=step, reason=ended.reason,
                    last_good_checkpoint=str(checkpoint) if checkpoint else None)
    kept = (f"last good checkpoint: {checkpoint}" if checkpoint else
            "the checkpoints left were saved after the loss went bad" if steps else "no checkpoint was saved before it")
    raise TrainingDiverged(f"training diverged at {ended.reason}; {kept}",
                           hint="lower training.learning_rate or raise training.warmup_ratio")


def train(config: RunConfig, console, resume: Path | None = None, callbacks=()) -> Path:
    """Fine-tune as the config says; returns the run directory (finished, interrupted with a checkpoint, or
    ended early by one of the extra `callbacks`, e.g. a sweep's pruner)."""
    from tunesmith.evaluate import summary_fields, write_report
    from tunesmith.training.callbacks import (DivergenceGuard, EndsRun, MetricsLog, Progress, StopOnInterrupt,
                                             ThreadsFollowFreeCores)
    from rich.console import Console

    from tunesmith.training.distributed import join_processes, save_gathered, shards_weights
    from tunesmith.training.prepare import prepare_inputs
    from tunesmith.training.verify import verify_reload

    procs = join_processes(config.model.device)  # one process unless launched by accelerate/torchrun
    log = RunLog(console if procs.is_main else Console(quiet=True))
    threads = ThreadsFollowFreeCores()  # samples the CPU from here, before data and weights load
    with procs.main_first():  # the main process fills the data cache (and converts a GGUF) once
        method, objective, hardware, source, tokenizer, data = prepare_inputs(config, log)
    checkpoint = latest_checkpoint(resume) if resume else None
    if resume and checkpoint is None:
        raise UserError(f"{resume} has no checkpoint to resume from", hint="start a new run instead")
    run = procs.share((resume or create_run(config)) if procs.is_main else None)
    if procs.is_main:
        log.attach(run)
    from transformers import set_seed

    set_seed(config.training.seed)  # new heads and adapters are initialised from the run's seed, not from chance
    model = _load_model(config, source, hardware, method, objective, data, log)
    if config.data.replay.source == "base":
        from tunesmith.data.replay import describe_replay, mix_base_replay

        with procs.main_first():  # the main process generates and caches the base's answers; the others read them
            log(describe_replay(mix_base_replay(model, tokenizer, data, config.data, source.path, hardware.dtype)))
    stopper = StopOnInterrupt()
    guard = DivergenceGuard(config.training.divergence_factor if config.objective.name in CROSS_ENTROPY else None)
    enders = [guard, *(c for c in callbacks if isinstance(c, EndsRun))]
    writers = [MetricsLog(run / "metrics.jsonl"), Progress(console)] if procs.is_main else []
    callbacks = [*writers, stopper, guard, *_early_stopping(config),
                 *callbacks, *([threads] if hardware.device == "cpu" and not config.training.threads else [])]
    has_validation = bool(data.tokenized.get("validation"))
    args = trainer_args(config, hardware, run, has_validation)
    trainer = objective.build_trainer(model, tokenizer, data, args, callbacks, config)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # Progress and MetricsLog show the same values, readably
    if not procs.is_main:  # the other processes train alongside; the main one records and saves
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        if shards_weights(trainer) and not (stopper.interrupted or any(c.reason for c in enders)):
            save_gathered(trainer, run, method.artifact)
        return run
    update_manifest(run, status="running", data_report={**data.data_report, "tokens": data.report},
                    hardware=hardware.describe(),
                    model_kwargs=objective.model_kwargs(data) if objective.model_kwargs else {})
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except KeyboardInterrupt:
        update_manifest(run, status="failed", error="aborted by a second Ctrl-C")
        raise
    except Exception as exc:
        update_manifest(run, status="failed", error=f"{type(exc).__name__}: {exc}")
        if "can't allocate memory" in str(exc) or type(exc).__name__ == "OutOfMemoryError":
            raise UserError(f"out of memory during training: {str(exc)[:160]}",
                            hint="lower training.batch_size or data.max_length") from exc
        raise
    if stopper.interrupted:
        update_manifest(run, status="interrupted", step=trainer.state.global_step)
        log(f"interrupted at step {trainer.state.global_step}; checkpoint saved. Continue: tunesmith train --resume {run}")
        return run
    ended = next((c for c in enders if c.reason), None)
    if ended:
        return _end_early(run, trainer.state.global_step, ended, log)
    if shards_weights(trainer):  # FSDP/DeepSpeed: no process holds the whole model to check or evaluate
        artifact, reload_difference, comparison = save_gathered(trainer, run, method.artifact), None, None
        log(f"saved {method.artifact} to {artifact} (gathered from shards); reload check and evaluation skipped")
    else:
        _release_optimizer(trainer)
        artifact = _save_artifact(model, tokenizer, run, method.artifact)
        reload_difference = verify_reload(model, tokenizer, run)
        log(f"saved {method.artifact} to {artifact}; reloaded it: max logit difference {reload_difference:.1e}")
        comparison = _final_eval(trainer, model, config, data, objective, tokenizer, log)
    if comparison:
        write_json(run / "eval.json", comparison)
    history = [row for row in (trainer.state.log_history or [])]
    losses = [row["loss"] for row in history if "loss" in row]
    evals = [row["eval_loss"] for row in history if "eval_loss" in row]
    summary = {
        "status": "finished", "steps": trainer.state.global_step, "train_seconds": round(time.perf_counter() - started, 1),
        "first_train_loss": losses[0] if losses else None, "final_train_loss": losses[-1] if losses else None,
        "eval_loss": evals[-1] if evals else None, "train_runtime": result.metrics.get("train_runtime"),
        "tokens_seen": trainer.state.num_input_tokens_seen, "artifact": artifact.name,
        "reload_max_diff": reload_difference,
        **summary_fields(comparison),
    }
    write_json(run / "summary.json", summary)
    update_manifest(run, status="finished", step=trainer.state.global_step)
    log(f"report: {write_report(run)}")
    return run


def resume_run(path: Path, console) -> Path:
    config, manifest = open_run(path)
    if manifest.get("status") == "finished":
        raise UserError(f"{path} already finished; nothing to resume")
    return train(config, console, resume=path)

