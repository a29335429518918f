"""The training stage: config → hardware → model → data → method → objective's trainer → run directory."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers.trainer_callback import PrinterCallback

from tunesmith.config import RunConfig
from tunesmith.data.replay import describe_replay
from tunesmith.errors import UserError
from tunesmith.evaluate import evaluate_trained, summary_fields, write_report
from tunesmith.evaluate.across import earlier_tasks
from tunesmith.models.saved import SavedModel, run_record
from tunesmith.objectives import test_split_loss
from tunesmith.plan.build import plan_loaded_model
from tunesmith.runs import (
    create_run,
    latest_checkpoint,
    open_run,
    read_json,
    record_defaults,
    update_manifest,
    write_json,
)
from tunesmith.training.arguments import early_stopping, trainer_args
from tunesmith.training.callbacks import (
    AnchorDecay,
    DivergenceGuard,
    EndsRun,
    MetricsLog,
    Progress,
    StopOnInterrupt,
    ThreadsFollowFreeCores,
    TrainingDiverged,
)
from tunesmith.training.defaults import decide, describe, fit_batch
from tunesmith.training.distributed import join_processes, save_gathered, shards_weights
from tunesmith.training.log import RunLog
from tunesmith.training.model import load_for_training
from tunesmith.training.prepare import prepare_inputs
from tunesmith.training.replay import mix_base_replay
from tunesmith.training.verify import verify_reload


def _check_memory(plan, hardware, log) -> None:
    log(f"memory plan: {plan.describe()}; available {hardware.available_memory_gb:.1f} GiB")
    if plan.total_gb > hardware.available_memory_gb:
        raise UserError(
            f"this run needs about {plan.total_gb:.1f} GiB but only {hardware.available_memory_gb:.1f} GiB is free",
            hint="lower training.batch_size or data.max_length, or use method.name=lora",
        )


def _decide(inputs, log) -> tuple[RunConfig, dict]:
    """Every training default the config left unset, decided and logged (the data limits and batch came with
    `inputs`)."""
    config, chosen = decide(inputs.config, inputs.objective, inputs.source, inputs.data)
    chosen = {**inputs.chosen, **chosen}
    if chosen:
        log(describe(chosen))
    return config, chosen


def _fit_memory(config: RunConfig, model, method, data, hardware, log, chosen: dict) -> RunConfig:
    """The memory plan checked; a decided batch (in `chosen`) is split into micro-batches until it fits, and
    `chosen` says so."""
    def plan(cfg):
        return plan_loaded_model(cfg, model, method, data, hardware)

    if "batch_size" in chosen:
        config, why = fit_batch(config, lambda cfg: plan(cfg).total_gb <= hardware.available_memory_gb)
        if why:
            chosen["batch_size"]["why"] += f"; {why}"
            log(f"defaults: {why}")
    _check_memory(plan(config), hardware, log)
    return config


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


def _final_eval(stage: Stage) -> dict | None:
    """Base vs fine-tuned on the test split, forgetting and bias (tunesmith.evaluate), plus the trainer's own test
    loss where the objective reports one."""
    test = test_split_loss(stage.trainer) if stage.objective.test_loss else None
    if not stage.config.eval.compare_with_base:
        return test
    lineage = read_json(stage.run / "manifest.json").get("lineage")
    also = (lambda pair: {"earlier_tasks": earlier_tasks(pair, stage.config, stage.objective, lineage, stage.log)}
            ) if lineage else None
    return {**evaluate_trained(stage.model, stage.tokenizer, stage.config, stage.objective, stage.data, stage.saved,
                               stage.log, also), **(test or {})}


def _end_early(run: Path, step: int, ended, log) -> Path:
    """Record why a callback ended the run; a diverged run is the user's to fix, so it raises."""
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


@dataclass
class Stage:
    """What prepare() made ready for fit() and finish()."""

    config: RunConfig
    run: Path
    log: RunLog
    procs: Any  # training.distributed.Processes
    method: Any
    objective: Any
    hardware: Any
    tokenizer: Any
    data: Any  # PreparedData
    model: Any
    trainer: Any
    saved: Any  # models.saved.SavedModel: what finish() will save, recorded in the manifest now
    checkpoint: Path | None
    stopper: Any  # StopOnInterrupt
    enders: list  # callbacks that may end the run early (EndsRun)


def train(config: RunConfig, console, resume: Path | None = None, callbacks=()) -> Path:
    """Fine-tune as the config says; returns the run directory (finished, interrupted with a checkpoint, or
    ended early by one of the extra `callbacks`, e.g. a sweep's pruner)."""
    stage = prepare(config, console, resume, callbacks)
    if not stage.procs.is_main:  # the other processes train alongside; the main one records and saves
        return _follow(stage)
    started = time.perf_counter()
    result = fit(stage)
    if stage.stopper.interrupted:
        update_manifest(stage.run, status="interrupted", step=stage.trainer.state.global_step)
        stage.log(f"interrupted at step {stage.trainer.state.global_step}; checkpoint saved. "
                  f"Continue: tunesmith train --resume {stage.run}")
        return stage.run
    ended = next((c for c in stage.enders if c.reason), None)
    if ended:
        return _end_early(stage.run, stage.trainer.state.global_step, ended, stage.log)
    return finish(stage, result, time.perf_counter() - started)


def prepare(config: RunConfig, console, resume: Path | None, callbacks) -> Stage:
    """Data checked, run folder made, model loaded with its method (and base replay mixed in), trainer built, and
    what the run will save recorded in its manifest."""
    from rich.console import Console
    from transformers import set_seed

    procs = join_processes(config.model.device)  # one process unless launched by accelerate/torchrun
    log = RunLog(console if procs.is_main else Console(quiet=True))
    threads = ThreadsFollowFreeCores()  # samples the CPU from here, before data and weights load
    with procs.main_first():  # the main process fills the data cache (and converts a GGUF) once
        inputs = prepare_inputs(config, log)
    method, objective, hardware, source, tokenizer, data = (inputs.method, inputs.objective, inputs.hardware,
                                                            inputs.source, inputs.tokenizer, inputs.data)
    written = config
    config, chosen = _decide(inputs, log)
    checkpoint = latest_checkpoint(resume) if resume else None
    if resume and checkpoint is None:
        raise UserError(f"{resume} has no checkpoint to resume from", hint="start a new run instead")
    run = procs.share((resume or create_run(written)) if procs.is_main else None)
    if procs.is_main:
        log.attach(run)
        if inputs.parent:
            update_manifest(run, lineage=inputs.parent.lineage)
    set_seed(config.training.seed)  # new heads and adapters are initialised from the run's seed, not from chance
    model = load_for_training(config, inputs, log)
    config = _fit_memory(config, model, method, data, hardware, log, chosen)
    if procs.is_main and chosen:
        record_defaults(run, config, chosen)
    if config.data.replay.source == "base":
        with procs.main_first():  # the main process generates and caches the base's answers; the others read them
            log(describe_replay(mix_base_replay(model, tokenizer, data, config.data, source.path, hardware.dtype)))
    stopper = StopOnInterrupt()
    guard = DivergenceGuard(config.training.divergence_factor if objective.cross_entropy else None)
    enders = [guard, *(c for c in callbacks if isinstance(c, EndsRun))]
    writers = [MetricsLog(run / "metrics.jsonl"), Progress(console)] if procs.is_main else []
    anchor = [AnchorDecay(model, config.training.anchor_decay)] if config.training.anchor_decay else []
    callbacks = [*writers, stopper, guard, *early_stopping(config), *anchor,
                 *callbacks, *([threads] if hardware.device == "cpu" and not config.training.threads else [])]
    args = trainer_args(config, hardware, run, bool(data.tokenized.get("validation")))
    trainer = objective.build_trainer(model, tokenizer, data, args, callbacks, config)
    trainer.remove_callback(PrinterCallback)  # Progress and MetricsLog show the same values, readably
    saved = _record_saved(config, run, method, objective, data, model) if procs.is_main else None
    return Stage(config, run, log, procs, method, objective, hardware, tokenizer, data, model, trainer, saved,
                 checkpoint, stopper, enders)


def _record_saved(config: RunConfig, run: Path, method, objective, data, model):
    """The manifest says, before training, what the run saves and how to load it (models/saved.py)."""
    kwargs = objective.head_kwargs(data)
    saved = run_record(config, method.artifact, objective.model_kind, objective.serving, kwargs,
                       model.config.pad_token_id)
    update_manifest(run, model=saved.as_record(run))
    return SavedModel.from_record(saved.as_record(run), run)


def fit(stage: Stage):
    """trainer.train(), from the checkpoint when resuming; a failure marks the run failed (out of memory: a
    UserError with what to lower)."""
    run = stage.run
    update_manifest(run, status="running", data_report={**stage.data.data_report, "tokens": stage.data.report},
                    hardware=stage.hardware.describe())
    try:
        return stage.trainer.train(resume_from_checkpoint=str(stage.checkpoint) if stage.checkpoint else None)
    except KeyboardInterrupt:
        update_manifest(run, status="failed", error="aborted by a second Ctrl-C")
        raise
    except Exception as exc:
        update_manifest(run, status="failed", error=f"{type(exc).__name__}: {exc}")
        if "can't allocate memory" in str(exc) or type(exc).__name__ == "OutOfMemoryError":
            raise UserError(f"out of memory during training: {str(exc)[:160]}",
                            hint="lower training.batch_size or data.max_length") from exc
        raise


def finish(stage: Stage, result, seconds: float) -> Path:
    """Save the weights (to a temporary folder renamed into place), prove they reload, evaluate against the base,
    and write eval.json, summary.json and the report."""
    run, trainer = stage.run, stage.trainer
    artifact, reload_difference, comparison = _save_and_check(stage)
    if comparison:
        write_json(run / "eval.json", comparison)
    history = trainer.state.log_history or []
    losses = [row["loss"] for row in history if "loss" in row]
    evals = [row["eval_loss"] for row in history if "eval_loss" in row]
    write_json(run / "summary.json", {
        "status": "finished", "steps": trainer.state.global_step, "train_seconds": round(seconds, 1),
        "first_train_loss": losses[0] if losses else None, "final_train_loss": losses[-1] if losses else None,
        "eval_loss": evals[-1] if evals else None,
        "train_runtime": result.metrics.get("train_runtime") if result else round(seconds, 1),
        "tokens_seen": trainer.state.num_input_tokens_seen, "artifact": artifact.name,
        "reload_max_diff": reload_difference, **summary_fields(comparison),
    })
    update_manifest(run, status="finished", step=trainer.state.global_step)
    stage.log(f"report: {write_report(run)}")
    return run


def _save_and_check(stage: Stage) -> tuple[Path, float | None, dict | None]:
    """(saved folder, reload logit difference, evaluation); sharded runs (FSDP/DeepSpeed) only gather and save."""
    trainer, artifact = stage.trainer, stage.method.artifact
    if shards_weights(trainer):  # no process holds the whole model to check or evaluate
        folder = save_gathered(trainer, stage.run, artifact)
        stage.log(f"saved {artifact} to {folder} (gathered from shards); reload check and evaluation skipped")
        return folder, None, None
    _release_optimizer(trainer)
    folder = _save_artifact(stage.model, stage.tokenizer, stage.run, artifact)
    difference = verify_reload(stage.model, stage.tokenizer, stage.run)
    stage.log(f"saved {artifact} to {folder}; reloaded it: max logit difference {difference:.1e}")
    return folder, difference, _final_eval(stage)


def _follow(stage: Stage) -> Path:
    """A non-main process of a distributed run: train alongside, and help gather sharded weights."""
    trainer = stage.trainer
    trainer.train(resume_from_checkpoint=str(stage.checkpoint) if stage.checkpoint else None)
    if shards_weights(trainer) and not (stage.stopper.interrupted or any(c.reason for c in stage.enders)):
        save_gathered(trainer, stage.run, stage.method.artifact)
    return stage.run


def resume_run(path: Path, console) -> Path:
    config, manifest = open_run(path)
    if manifest.get("status") == "finished":
        raise UserError(f"{path} already finished; nothing to resume")
    return train(config, console, resume=path)

