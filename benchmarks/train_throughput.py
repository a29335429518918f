"""Training throughput: tunesmith against the usual stack (TRL SFTTrainer + PEFT LoRA), same model, data and settings.

    .venv/bin/python benchmarks/train_throughput.py [--full] [--tiny] [--steps 6] [--rounds 2] [--json out.json]

Both sides train smollm2-135m (or, with --tiny, a small random Llama built here) on the same generated chat
examples (20-120 words per conversation), batch 8, max_length 256, learning rate 2e-4, LoRA r=16 alpha=32 dropout
0.05 on every linear layer (or, with --full, every parameter). The baseline is what a user would write: TRL's
SFTTrainer on a prompt-completion dataset (loss on the completion) with bf16 off and TRL's other defaults.

Each phase runs in its own process, alternating baseline and tunesmith (the second round in the other order), so
contention from other work on the machine hits both and each phase's peak RSS is its own. A phase measures the fp32
matmul rate, trains `--warmup` steps, then times `--steps` steps. Reported per phase: trained (non-padding) tokens/s,
model-FLOPs utilisation (4N FLOPs per token for LoRA, 6N for full; N = the base model's parameters) against the
matmul rate measured in that phase, peak RSS (for tunesmith beside the memory planner's estimate for the same run and
for its largest trained batch); then the tunesmith/baseline ratio of the mean tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("time year people way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system program question work government number night point "
         "home water room mother area money story fact month lot right study book eye job word business issue side "
         "kind head house service friend father power hour game line end member law car city community name team "
         "minute idea kid body information back parent face level office door health person art war history party "
         "result change morning reason research girl moment air teacher force education good new first last long "
         "great little own other old big high different small large next early young important few public bad same "
         "able make know take see come think look want give use find tell ask seem feel try leave call keep let "
         "begin help show hear play run move like live believe hold bring happen write provide sit stand lose pay "
         "meet include continue set learn").split()
BATCH, MAX_LENGTH, LEARNING_RATE = 8, 256, 2e-4
LORA = {"r": 16, "alpha": 32, "dropout": 0.05}


def make_conversations(count: int, seed: int = 0) -> list[dict]:
    """User question + assistant answer, 20-120 words together, from a fixed vocabulary."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        words = rng.randint(20, 120)
        asked = rng.randint(8, words - 8)
        question = " ".join(rng.choices(WORDS, k=asked)).capitalize() + "?"
        answer = " ".join(rng.choices(WORDS, k=words - asked)).capitalize() + "."
        rows.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    return rows


def matmul_gflops(seconds: float = 1.5, size: int = 2048) -> float:
    """fp32 matrix-multiply rate of this process right now, the denominator of MFU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the machine's rate, whatever threads training uses
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        done += 1
    rate = 2 * size**3 * done / (time.perf_counter() - started) / 1e9
    torch.set_num_threads(threads)
    return rate


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def stopwatch_callback(warmup: int, steps: int):
    """Times `steps` optimizer steps after `warmup`, counting the non-padding tokens each training forward sees."""
    from transformers import TrainerCallback

    class Stopwatch(TrainerCallback):
        def __init__(self):
            self.tokens: list[int] = []  # one entry per training forward
            self.marks: dict[int, tuple[float, int]] = {}
            self.peak_rss_mb = 0.0

        def count(self, module, args, kwargs):
            if not module.training:
                return
            mask = kwargs.get("attention_mask")
            ids = kwargs.get("input_ids", args[0] if args else None)
            self.tokens.append(int(mask.sum()) if mask is not None else ids.numel())

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.rss_at_start_mb = round(current_rss_mb())
            self.parameters = base_parameter_count(model)
            model.register_forward_pre_hook(self.count, with_kwargs=True)

        def on_step_end(self, args, state, control, **kwargs):
            self.marks[state.global_step] = (time.perf_counter(), len(self.tokens))
            if state.global_step >= warmup + steps:
                import torch

                self.peak_rss_mb = peak_rss_mb()
                self.threads = torch.get_num_threads()
                control.should_training_stop = True

        def result(self) -> dict:
            (t0, i0), (t1, i1) = self.marks[warmup], self.marks[warmup + steps]
            tokens = sum(self.tokens[i0:i1])
            return {"tokens": tokens, "seconds": round(t1 - t0, 2), "tokens_per_s": tokens / (t1 - t0),
                    "peak_rss_mb": round(self.peak_rss_mb), "rss_at_start_mb": self.rss_at_start_mb,
                    "parameters": self.parameters, "threads": self.threads}

    return Stopwatch()


def base_parameter_count(model) -> int:
    """Parameters of the model being fine-tuned, without adapter weights (tied embeddings counted once)."""
    return sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name)


def build_tiny_model(folder: Path) -> Path:
    """A 4-layer random Llama with SmolLM2's tokenizer (so the same data tokenizes the same way)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunesmith.models import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model("smollm2-135m"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_baseline(model_path: str, rows: list[dict], full: bool, warmup: int, steps: int, out: Path,
                 threads: int | None) -> dict:
    """TRL SFTTrainer + PEFT LoRA as its documentation shows it, with bf16 off."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    dataset = Dataset.from_list([{"prompt": r["messages"][:1], "completion": r["messages"][1:]} for r in rows])
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if not full:
        model = get_peft_model(model, LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    args = SFTConfig(output_dir=str(out), per_device_train_batch_size=BATCH, max_length=MAX_LENGTH, bf16=False,
                     learning_rate=LEARNING_RATE, max_steps=warmup + steps, report_to="none", seed=42)
    stopwatch = stopwatch_callback(warmup, steps)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[stopwatch])
    trainer.train()
    return stopwatch.result()


def run_tunesmith(model_path: str, rows: list[dict], full: bool, warmup: int, steps: int, out: Path,
                  threads: int | None) -> dict:
    """`tunesmith train` with the same settings, through its public train() entry point."""
    from rich.console import Console

    from tunesmith.config import build_config
    from tunesmith.training import train

    data = out / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = build_config({
        "model": {"name": model_path},
        "data": {"train": str(data), "validation_size": 0.0, "max_length": MAX_LENGTH, "cache": False},
        "method": {"name": "full"} if full else {"name": "lora", **LORA},
        "training": {"batch_size": BATCH, "learning_rate": LEARNING_RATE, "max_steps": warmup + steps,
                     "save_steps": 10_000, "logging_steps": 1, "threads": threads},
        "eval": {"compare_with_base": False},
        "output": {"dir": str(out / "runs"), "name": "bench"},
    })
    stopwatch = stopwatch_callback(warmup, steps)
    train(config, Console(quiet=True), callbacks=[stopwatch])
    return {**stopwatch.result(), **planned_memory(config, max(stopwatch.tokens))}


def planned_memory(config, trained_tokens: int) -> dict:
    """The memory planner's estimate for this run (what `tunesmith plan` prints: batch x the longest example) and
    for the largest batch the phase actually trained, computed after training so it cannot add to the peak."""
    from dataclasses import replace

    from tunesmith.plan.memory import plan_step
    from tunesmith.plan.build import plan_run

    plan = plan_run(config)
    seen = replace(plan.step, batch_size=1, seq_len=trained_tokens, sequences=1)
    trained = plan_step(plan.shape, plan.trainable, seen, plan.hardware.dtype, plan.hardware.device)
    return {"planned_mb": round(plan.rows[0].fit.plan.total_gb * 1024), "planned_tokens": plan.step.tokens,
            "planned_trained_mb": round(trained.total_gb * 1024), "trained_tokens_max": trained_tokens}


def run_phase(side: str, model_path: str, full: bool, warmup: int, steps: int, threads: int | None) -> dict:
    """One side's measurement, in this (fresh) process."""
    load = os.getloadavg()[0]
    rate_before = matmul_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        runner = run_baseline if side == "baseline" else run_tunesmith
        rows = make_conversations(BATCH * (warmup + steps + 2))
        result = runner(model_path, rows, full, warmup, steps, Path(tmp), threads)
    rate = (rate_before + matmul_gflops()) / 2
    flops_per_token = (6 if full else 4) * result["parameters"]
    return {"side": side, **result, "matmul_gflops": round(rate, 1), "load_at_start": load,
            "mfu": result["tokens_per_s"] * flops_per_token / (rate * 1e9)}


def spawn_phase(side: str, model_path: str, args) -> dict:
    command = [sys.executable, __file__, "--phase", side, "--model", model_path, "--warmup", str(args.warmup),
               "--steps", str(args.steps)] + (["--full"] if args.full else []) + (
                   ["--threads", str(args.threads)] if args.threads else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{side} phase failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(phases: list[dict]) -> dict:
    sides = {}
    for side in ("baseline", "tunesmith"):
        mine = [p for p in phases if p["side"] == side]
        sides[side] = {"tokens_per_s": statistics.mean(p["tokens_per_s"] for p in mine),
                       "mfu": statistics.mean(p["mfu"] for p in mine),
                       "peak_rss_mb": max(p["peak_rss_mb"] for p in mine)}
    ratio = sides["tunesmith"]["tokens_per_s"] / sides["baseline"]["tokens_per_s"]
    return {**sides, "ratio": ratio, "memory_ratio": sides["tunesmith"]["peak_rss_mb"] / sides["baseline"]["peak_rss_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    parser.add_argument("--tiny", action="store_true", help="a small random Llama instead of smollm2-135m")
    parser.add_argument("--warmup", type=int, default=1, help="steps before the clock starts")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per phase")
    parser.add_argument("--rounds", type=int, default=2, help="baseline+tunesmith pairs, alternating the order")
    parser.add_argument("--threads", type=int, help="fix both sides' torch threads (default: each side's own choice)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--phase", choices=["baseline", "tunesmith"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.model, args.full, args.warmup, args.steps, args.threads)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.tiny:
            model_path = str(build_tiny_model(Path(tmp) / "tiny"))
        else:
            from tunesmith.models import resolve_model

            model_path = resolve_model("smollm2-135m").path
        print(f"load before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; mode {'full' if args.full else 'lora'}",
              flush=True)
        phases = []
        for round_index in range(args.rounds):
            order = ("baseline", "tunesmith") if round_index % 2 == 0 else ("tunesmith", "baseline")
            for side in order:
                phases.append(spawn_phase(side, model_path, args))
                p = phases[-1]
                print(f"{side:9s} {p['tokens_per_s']:8.1f} tok/s  MFU {100 * p['mfu']:5.1f}%  "
                      f"matmul {p['matmul_gflops']:6.1f} GFLOP/s  RSS {p['rss_at_start_mb']:5d} -> peak {p['peak_rss_mb']:5d} MB  "
                      f"{p['threads']} threads  load {p['load_at_start']:.1f}  ({p['tokens']} tokens in {p['seconds']} s)",
                      flush=True)
                if "planned_mb" in p:
                    print(f"{'':9s} planned {p['planned_mb']} MB for the run ({p['planned_tokens']} tokens a step), "
                          f"{p['planned_trained_mb']} MB for its largest trained step ({p['trained_tokens_max']} "
                          f"tokens); measured peak / planned: {p['peak_rss_mb'] / p['planned_mb']:.2f}, "
                          f"{p['peak_rss_mb'] / p['planned_trained_mb']:.2f}", flush=True)
        summary = summarise(phases)
        print(f"ratio tunesmith/baseline: {summary['ratio']:.2f}x tokens/s, {summary['memory_ratio']:.2f}x peak RSS; "
              f"load after: {os.getloadavg()[0]:.2f}")
        if args.json:
            args.json.write_text(json.dumps({"mode": "full" if args.full else "lora", "tiny": args.tiny,
                                             "phases": phases, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
