"""What `tunesmith plan` prints: the run's memory broken down, a table of devices, and the assumptions behind it."""

from __future__ import annotations

from tunesmith.config import load_config
from tunesmith.plan.build import RunPlan, plan_run
from tunesmith.plan.memory import CPU_HEAP_SHARE, FRAMEWORK_GB

KIB = 2**10


def assumptions(plan: RunPlan) -> list[str]:
    step = plan.step
    return [
        f"sequence length {step.seq_len}: {plan.sequence.source}; the what-ifs treat every example in a batch as "
        "that long" + (" (padding-free batches hold at most that many tokens)" if step.padding_free else ""),
        "activations: what autograd keeps in tunesmith's training step, exact for LoRA, full and freeze on "
        "Llama-style decoders; DoRA keeps about 1.5x more; other methods, architectures and objectives are "
        "estimated with the same figures",
        f"runtime: framework {FRAMEWORK_GB['cpu']} GiB on a CPU plus the share of the per-token activations glibc's "
        f"heap keeps (LoRA {CPU_HEAP_SHARE['adapter']:.0%}, full {CPU_HEAP_SHARE['full']:.0%}, measured); "
        f"{FRAMEWORK_GB['cuda']:g} GiB of CUDA context on a GPU (assumed, not measured here)",
        "GPUs use the dtype hardware.py would choose there (bf16, fp16 without bf16 support); adapters stay fp32",
        "largest model: the same family with k times the parameters, its layers and widths each k^(1/3) larger "
        "(roughly how Llama 2 grows from 7B to 70B): weights and optimizer state x k, adapters and per-token "
        "activations x k^(2/3), the vocabulary unchanged",
    ]


def _params(count: int) -> str:
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= size:
            return f"{count / size:.3g}{unit}"
    return str(count)


def plan_json(plan: RunPlan) -> dict:
    own = plan.rows[0].fit.plan
    t, step, config = plan.trainable, plan.step, plan.config
    return {
        "model": config.model.name, "method": config.method.name, "objective": config.objective.name,
        "device": plan.hardware.device, "dtype": plan.hardware.dtype, "padding_free": step.padding_free,
        "parameters": {"total": t.total, "trainable": t.trainable},
        "step": {"batch_size": step.batch_size, "seq_len": step.seq_len, "seq_len_from": plan.sequence.source,
                 "tokens": step.tokens, "logit_positions": step.logit_positions},
        "plan_gb": {"weights": own.weights_gb, "gradients": own.gradients_gb, "optimizer": own.optimizer_gb,
                    "activations": own.activations_gb, "runtime": own.overhead_gb, "total": own.total_gb},
        "activation_bytes_per_token": own.token_bytes, "bytes_per_logit_position": own.logit_bytes,
        "max_position_embeddings": plan.max_seq,
        "devices": [{"device": row.label, "memory_gb": row.fit.memory_gb, "dtype": row.dtype,
                     "needs_gb": row.fit.plan.total_gb, "fits": row.fit.fits, "largest_batch": row.fit.largest_batch,
                     "longest_seq": row.fit.longest_seq, "largest_model_params": row.fit.largest_params}
                    for row in plan.rows],
        "notes": plan.notes,
        "assumptions": assumptions(plan),
    }


def _logit_note(step) -> str:
    if not step.padding_free:
        return " (every position: padded batches)"
    if step.logit_share < 1:
        return f" (padding-free: the {step.logit_share:.0%} of positions whose next token carries loss)"
    return " (padding-free; the labelled share is unknown here, so every position is counted)"


def _breakdown(plan: RunPlan) -> list[str]:
    p, t, step = plan.rows[0].fit.plan, plan.trainable, plan.step
    runtime = f"framework {p.overhead_gb - p.heap_gb:.2f}" + (f" + CPU heap {p.heap_gb:.2f}" if p.heap_gb else "")
    rows = [("weights", p.weights_gb, ""), ("gradients", p.gradients_gb, ""),
            ("optimizer", p.optimizer_gb, "AdamW: two moments per trainable parameter"),
            ("activations", p.activations_gb, f"{p.token_bytes / KIB:,.0f} KiB per token + "
                                              f"{p.logit_bytes / KIB:,.0f} KiB per position with logits"),
            ("runtime", p.overhead_gb, runtime), ("total", p.total_gb, "")]
    return [
        f"parameters: {t.total:,} total, {t.trainable:,} trainable ({100 * t.trainable / t.total:.2f}%), "
        "counted on the meta device",
        f"step: batch {step.batch_size} x {step.seq_len} tokens"
        + (f" x {step.sequences} sequences" if step.sequences > 1 else "")
        + f" = {step.tokens:,} tokens, logits on {step.logit_positions:,}" + _logit_note(step),
        *(f"  {name:12s}{size:8.2f} GiB  {note}".rstrip() for name, size, note in rows),
    ]


SHORT_DTYPE = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def show_plan(plan: RunPlan, console) -> None:
    from rich.table import Table

    config, hardware, step = plan.config, plan.hardware, plan.step
    console.print(f"memory plan: {config.model.name}, method {config.method.name}, objective "
                  f"{config.objective.name}, {hardware.dtype} on {hardware.device}", highlight=False)
    for line in [*_breakdown(plan), *plan.notes]:
        console.print(line, highlight=False, markup=False)
    table = Table("device", "GiB", "dtype", "needs", "fits", "batch", "seq", "model",
                  caption=f"largest batch at {step.seq_len} tokens, longest sequence at batch {step.batch_size}, "
                          f"largest model at both; GiB: free on this machine, total on a GPU")
    for row in plan.rows:
        fit = row.fit
        seq = f"{fit.longest_seq:,}" + (" (model max)" if fit.longest_seq == plan.max_seq else "")
        table.add_row(row.label, f"{fit.memory_gb:.1f}", SHORT_DTYPE.get(row.dtype, row.dtype),
                      f"{fit.plan.total_gb:.1f}", "yes" if fit.fits else "no", f"{fit.largest_batch:,}", seq,
                      _params(fit.largest_params))
    console.print(table)
    for line in assumptions(plan):
        console.print(f"- {line}", highlight=False, markup=False)


def print_plan(config_path, overrides: list[str], devices: list[str], seq_len: int | None, as_json: bool,
               console) -> None:
    """`tunesmith plan`: load the config, plan it, print the plan as a table or JSON."""
    import json
    import sys

    plan = plan_run(load_config(config_path, overrides), devices, seq_len,
                    log=lambda line: print(line, file=sys.stderr))  # e.g. a GGUF converted on first use
    if as_json:
        print(json.dumps(plan_json(plan), indent=2))
    else:
        show_plan(plan, console)
