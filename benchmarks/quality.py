"""Quality benchmark: tunesmith's defaults, `tunesmith train --auto` and a plain transformers/TRL script, scored
on the same test rows with the same metric (issue #21, item 6).

    .venv/bin/python benchmarks/quality.py [--quick] [--tasks sentiment_minilm,sentiment_smollm2_head,sft_orders]
                                           [--budget 900] [--systems defaults,auto,plain] [--keep DIR]

Tasks (the shipped examples):
- sentiment_minilm: examples/sentiment_minilm.yaml (minilm-l6) on examples/data/reviews.jsonl;
- sentiment_smollm2_head: examples/sentiment_smollm2_head.yaml (smollm2-135m + a classification head), same data;
- sft_orders: examples/chat_sft.yaml (smollm2-135m, LoRA SFT) on the quickstart's order-to-JSON examples.
- sentiment_smollm2_full (only when asked for): the smollm2 task with method full, like for like with the plain
  script, which trains every parameter.

Each task's rows are split once here (seeded) into train.jsonl and test.jsonl; every system trains on train.jsonl
(tunesmith splits its validation rows off it, as the config's data.validation_size says; the plain script uses
all of it) and is scored here, by one scorer, on test.jsonl. Systems, each in its own process:
- defaults: `tunesmith train CONFIG` with the example's model, method and objective, but its hand-set
  training.learning_rate, epochs and max_steps removed (tunesmith's defaults decide);
- auto: the same config with `--auto --budget B` ("not available" when `tunesmith train --help` lacks --auto);
- plain: benchmarks/plain_trainer.py, a tutorial-style Trainer (classification: every parameter trained, lr 5e-5
  for minilm-l6 and 2e-5 for smollm2-135m, 3 epochs, batch 16, linear schedule, no warmup) or TRL SFTTrainer with
  LoRA r=16 and lr 2e-4 (SFT).
tunesmith runs keep eval.compare_with_base (its eval.json holds the test predictions scored here) but switch off
the forgetting check and the bias probe, which do not change the model and would only add minutes of CPU.

Metrics: classification accuracy (Wilson 95% interval) and macro-F1 (bootstrap 95% interval); SFT: JSON exact match
of the greedy reply against the reference (Wilson 95%). Also wall seconds of the whole process (tunesmith's includes
scoring the base model on the test rows), training seconds and training tokens/s (non-padding tokens the training
forwards saw / training seconds). Prints one table and writes benchmarks/results/quality.json (--quick:
quality_quick.json) with the machine it ran on.

--quick: fewer rows (and a 120 s budget) for a smoke run of a few minutes per task on a laptop CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TUNESMITH = Path(sys.executable).parent / "tunesmith"
PLAIN = Path(__file__).resolve().parent / "plain_trainer.py"
SYSTEMS = ("defaults", "auto", "plain")
SEED = 0


@dataclass(frozen=True)
class Task:
    name: str
    config: str  # in examples/
    model: str  # bundled alias
    kind: str  # "classification" or "sft"
    plain_lr: float | None  # classification baseline's learning rate
    rows: tuple[int, int]  # (train, test) rows
    quick_rows: tuple[int, int]
    method: str | None = None  # instead of the example config's method (a like-for-like row against plain)


TASKS = {t.name: t for t in (
    Task("sentiment_minilm", "sentiment_minilm.yaml", "minilm-l6", "classification", 5e-5, (480, 120), (160, 60)),
    Task("sentiment_smollm2_head", "sentiment_smollm2_head.yaml", "smollm2-135m", "classification", 2e-5,
         (480, 120), (128, 48)),
    Task("sft_orders", "chat_sft.yaml", "smollm2-135m", "sft", None, (480, 60), (48, 12)),
    # Not run by default: the plain script trains every parameter of smollm2, the example only a head.
    Task("sentiment_smollm2_full", "sentiment_smollm2_head.yaml", "smollm2-135m", "classification", 2e-5,
         (480, 120), (128, 48), method="full"),
)}
DEFAULT_TASKS = ("sentiment_minilm", "sentiment_smollm2_head", "sft_orders")


# ---------------------------------------------------------------- data: one split, shared by every system


def task_rows(task: Task, count: int) -> list[dict]:
    """The example's rows, shuffled with a fixed seed; SFT rows carry the config's system prompt themselves, so
    tunesmith (which adds data.system_prompt only where a conversation has none) and the plain script see the same
    conversations."""
    if task.kind == "classification":
        rows = [json.loads(line) for line in (ROOT / "examples/data/reviews.jsonl").read_text().splitlines()]
    else:
        from tunesmith.quickstart.orders import SYSTEM_PROMPT, make_examples

        rows = [{"messages": [{"role": "system", "content": SYSTEM_PROMPT}, *ex["messages"]]}
                for ex in make_examples(count, seed=SEED)]
    random.Random(SEED).shuffle(rows)
    if len(rows) < count:
        raise SystemExit(f"{task.name}: {count} rows asked for, the example has {len(rows)}")
    return rows[:count]


def write_split(task: Task, quick: bool, folder: Path) -> dict[str, Path]:
    n_train, n_test = task.quick_rows if quick else task.rows
    rows = task_rows(task, n_train + n_test)
    paths = {"train": folder / "train.jsonl", "test": folder / "test.jsonl"}
    for split, part in (("test", rows[:n_test]), ("train", rows[n_test:])):
        paths[split].write_text("".join(json.dumps(r) + "\n" for r in part))
    return paths


def defaults_config(task: Task, data: dict[str, Path], folder: Path) -> Path:
    """The example config with its hand-set learning rate and length removed and the shared split filled in."""
    raw = yaml.safe_load((ROOT / "examples" / task.config).read_text())
    for key in ("learning_rate", "epochs", "max_steps"):
        raw.get("training", {}).pop(key, None)
    raw["data"].update(train=str(data["train"]), test=str(data["test"]), test_size=0.0)
    if task.method:
        raw["method"] = {"name": task.method}
    raw["data"].pop("validation", None)
    raw.setdefault("eval", {}).update(forgetting=False, bias=False)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# ---------------------------------------------------------------- running the systems


def run_logged(command: list[str], log: Path) -> tuple[float, int]:
    """(wall seconds, exit status) of command, its output written to log."""
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, check=False,
                              env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    return time.perf_counter() - started, done.returncode


def tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def auto_available() -> bool:
    done = subprocess.run([str(TUNESMITH), "train", "--help"], capture_output=True, text=True, check=False,
                          env={**os.environ, "COLUMNS": "200"})
    return "--auto" in done.stdout and "--budget" in done.stdout


def finished_run(runs: Path) -> Path | None:
    """The run directory tunesmith finished last under `runs` (an --auto search may leave several)."""
    done = [p.parent for p in runs.rglob("summary.json") if (p.parent / "eval.json").is_file()]
    return max(done, key=lambda p: (p / "summary.json").stat().st_mtime, default=None)


def estimated_tokens(run: Path) -> int | None:
    """Training-split tokens (manifest data report) x epochs trained (metrics.jsonl): for runs whose trainer counts
    no input tokens, e.g. method head with cached features, where the backbone reads each token once."""
    manifest = json.loads((run / "manifest.json").read_text())
    per_epoch = (((manifest.get("data_report") or {}).get("tokens") or {}).get("train") or {}).get("tokens")
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []
    epochs = [row["epoch"] for row in map(json.loads, lines) if "epoch" in row]
    return round(per_epoch * epochs[-1]) if per_epoch and epochs else None


def read_tunesmith_run(run: Path) -> dict:
    """Test predictions from eval.json's samples (one per test row, the tuned model's label or greedy reply),
    training time and tokens from summary.json, and the metrics tunesmith itself reported (as a cross-check)."""
    summary = json.loads((run / "summary.json").read_text())
    evaluation = json.loads((run / "eval.json").read_text())
    samples = evaluation.get("samples") or []
    config = yaml.safe_load((run / "config.yaml").read_text())
    return {"predictions": [s["tuned"] for s in samples], "references": [s["reference"] for s in samples],
            "prompts": [s["prompt"] for s in samples], "train_seconds": summary.get("train_seconds"),
            "train_tokens": summary.get("tokens_seen") or estimated_tokens(run),
            "tokens_estimated": not summary.get("tokens_seen"), "steps": summary.get("steps"),
            "tunesmith_reported": {k: v.get("tuned") for k, v in (evaluation.get("metrics") or {}).items()},
            "settings": {"learning_rate": config["training"]["learning_rate"], "epochs": config["training"]["epochs"],
                         "max_steps": config["training"]["max_steps"], "method": config["method"]["name"]},
            "run_dir": str(run)}


def run_tunesmith(config: Path, folder: Path, extra: list[str]) -> dict:
    runs = folder / "runs"
    command = [str(TUNESMITH), "train", str(config), "--set", f"output.dir={runs}", *extra]
    wall, status = run_logged(command, folder / "log.txt")
    run = finished_run(runs) if runs.is_dir() else None
    if status != 0 or run is None:
        return {"status": "failed", "wall_seconds": wall, "error": tail(folder / "log.txt")}
    return {"status": "ok", "wall_seconds": wall, **read_tunesmith_run(run)}


def run_plain(task: Task, data: dict[str, Path], config: Path, folder: Path) -> dict:
    from tunesmith.config import load_config
    from tunesmith.models import resolve_model

    settings = load_config(config)
    out = folder / "result.json"
    command = [sys.executable, str(PLAIN), "classify" if task.kind == "classification" else "sft",
               "--model", resolve_model(task.model, log=lambda *_: None).path, "--train", str(data["train"]),
               "--test", str(data["test"]), "--out", str(out)]
    if task.kind == "classification":
        command += ["--lr", str(task.plain_lr), "--max-length", str(settings.data.max_length)]
    else:
        command += ["--max-new-tokens", str(settings.eval.max_new_tokens)]
    wall, status = run_logged(command, folder / "log.txt")
    if status != 0 or not out.is_file():
        return {"status": "failed", "wall_seconds": wall, "error": tail(folder / "log.txt")}
    settings = ({"method": "full", "learning_rate": task.plain_lr} if task.kind == "classification" else
                {"method": "lora", "learning_rate": 2e-4})
    return {"status": "ok", "wall_seconds": wall, **json.loads(out.read_text()),
            "settings": {**settings, "epochs": 3, "max_steps": -1}}


def run_system(system: str, task: Task, data: dict[str, Path], config: Path, folder: Path, args) -> dict:
    folder.mkdir(parents=True)
    if system == "plain":
        return run_plain(task, data, config, folder)
    if system == "defaults":
        return run_tunesmith(config, folder, [])
    if not args.auto_available:
        return {"status": "not available", "error": "`tunesmith train --help` lists no --auto/--budget"}
    return run_tunesmith(config, folder, ["--auto", "--budget", str(args.budget)])


# ---------------------------------------------------------------- scoring: one scorer for every system


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def macro_f1(pairs: list[tuple[str, str]], labels: list[str]) -> float:
    scores = []
    for label in labels:
        tp = sum(p == label and r == label for p, r in pairs)
        predicted, actual = sum(p == label for p, _ in pairs), sum(r == label for _, r in pairs)
        scores.append(2 * tp / (predicted + actual) if predicted + actual else 0.0)
    return sum(scores) / len(scores)


def bootstrap(pairs: list, statistic, samples: int = 2000) -> tuple[float, float]:
    rng = random.Random(SEED)
    values = sorted(statistic([pairs[rng.randrange(len(pairs))] for _ in pairs]) for _ in range(samples))
    return (values[int(0.025 * samples)], values[int(0.975 * samples) - 1])


def parse_json(text: str):
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        return json.loads(body)
    except ValueError:
        return None


def score(kind: str, predictions: list[str], references: list[str]) -> dict:
    n = len(references)
    if kind == "sft":
        hits = sum(parse_json(p) is not None and parse_json(p) == parse_json(r) for p, r in zip(predictions, references))
        return {"n": n, "json_exact_match": hits / n if n else 0.0, "json_exact_match_ci95": wilson(hits, n)}
    pairs = list(zip(predictions, references))
    labels = sorted(set(references))
    hits = sum(p == r for p, r in pairs)
    f1 = lambda items: macro_f1(items, labels)
    return {"n": n, "accuracy": hits / n if n else 0.0, "accuracy_ci95": wilson(hits, n),
            "macro_f1": f1(pairs), "macro_f1_ci95": bootstrap(pairs, f1) if n else (0.0, 0.0)}


def scored(task: Task, result: dict, test: Path) -> dict:
    """The result with its score, after checking it answered exactly the shared test rows, in order."""
    if result["status"] != "ok":
        return result
    expected = [json.loads(line) for line in test.read_text().splitlines()]
    references = [r["label"] if task.kind == "classification" else r["messages"][-1]["content"] for r in expected]
    if result["references"] != references:
        result["warning"] = f"scored {len(result['references'])} rows, not the {len(references)} test rows in order"
    tokens, seconds = result.get("train_tokens"), result.get("train_seconds")
    result["tokens_per_s"] = tokens / seconds if tokens and seconds else None
    return {**result, "score": score(task.kind, result["predictions"], result["references"])}


# ---------------------------------------------------------------- reporting


def example_config(default: str, name: str):
    """(args, config) of a benchmark over one shipped example config: --config, --keep DIR (else a temporary
    folder), --set K=V; the runs go to the folder under `name`."""
    from tunesmith.config import load_config

    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=Path(default))
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix=f"tunesmith-{name}-"))
    return args, load_config(args.config, [*args.overrides, f"output.dir={out}", f"output.name={name}"])


def write_results(path: Path, args, result: dict, **extra) -> None:
    """benchmarks/results/NAME.json: the machine, the config and overrides it ran, and the result."""
    path.write_text(json.dumps({"machine": machine_info(), "config": str(args.config), "overrides": args.overrides,
                                **extra, "result": result}, indent=2) + "\n")


def machine_info() -> dict:
    import torch
    import transformers
    import trl

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    return {"cpu": model, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average_at_start": os.getloadavg()[0]}


def metric_cell(task: Task, result: dict) -> str:
    if result["status"] != "ok":
        return result["status"]
    s = result["score"]
    if task.kind == "sft":
        lo, hi = s["json_exact_match_ci95"]
        return f"JSON EM {s['json_exact_match']:.1%} [{lo:.1%}, {hi:.1%}] (n={s['n']})"
    (lo, hi), (flo, fhi) = s["accuracy_ci95"], s["macro_f1_ci95"]
    return (f"acc {s['accuracy']:.1%} [{lo:.1%}, {hi:.1%}], F1 {s['macro_f1']:.3f} [{flo:.3f}, {fhi:.3f}] "
            f"(n={s['n']})")


def number(result: dict, key: str, fmt: str) -> str:
    return format(result[key], fmt) if result.get(key) is not None else "-"


def setup_cell(result: dict) -> str:
    s = result.get("settings")
    if not s:
        return "-"
    length = f"{s['max_steps']} steps" if s.get("max_steps", -1) > 0 else f"{s['epochs']:g} ep"
    return f"{s['method']} lr {s['learning_rate']:g} {length}"


def print_table(results: dict) -> None:
    header = ("task", "system", "setup", "metric [95% CI]", "wall s", "train s", "tokens/s")
    rows = [header]
    for name, systems in results.items():
        for system, r in systems.items():
            rows.append((name, system, setup_cell(r), metric_cell(TASKS[name], r), number(r, "wall_seconds", ".0f"),
                         number(r, "train_seconds", ".1f"),
                         number(r, "tokens_per_s", ".0f") + ("*" if r.get("tokens_estimated") else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    if any(r.get("tokens_estimated") for systems in results.values() for r in systems.values()):
        print("* the trainer counted no input tokens (method head trains on features computed once, before the "
              "training clock starts): training-split tokens x epochs / training seconds")
    for name, systems in results.items():
        for system, r in systems.items():
            if r.get("warning") or r["status"] == "failed":
                print(f"\n{name}/{system}: {r.get('warning') or r.get('error')}")


def run_task(task: Task, folder: Path, args) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    data = write_split(task, args.quick, folder)
    config = defaults_config(task, data, folder)
    results = {}
    for system in args.systems:
        print(f"{task.name}: {system} ...", flush=True)
        result = scored(task, run_system(system, task, data, config, folder / system, args), data["test"])
        results[system] = result
        print(f"{task.name}: {system}: {metric_cell(task, result)}, {result.get('wall_seconds') or 0:.0f} s",
              flush=True)
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and a 120 s budget: a smoke run")
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help=f"comma-separated, of: {', '.join(TASKS)}")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of: {', '.join(SYSTEMS)}")
    parser.add_argument("--budget", help="passed to `tunesmith train --auto --budget` (default 900, --quick 120)")
    parser.add_argument("--keep", type=Path, help="keep the data, configs, logs and runs in this folder")
    parser.add_argument("--json", type=Path, help="where to write the results (default benchmarks/results/)")
    args = parser.parse_args()
    args.tasks, args.systems = args.tasks.split(","), args.systems.split(",")
    unknown = [t for t in args.tasks if t not in TASKS] + [s for s in args.systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown task or system: {', '.join(unknown)}")
    args.budget = args.budget or ("120" if args.quick else "900")
    args.json = args.json or RESULTS / ("quality_quick.json" if args.quick else "quality.json")
    return args


def main() -> None:
    args = parse_args()
    args.auto_available = "auto" in args.systems and auto_available()
    machine, started = machine_info(), time.perf_counter()
    print(f"machine: {machine['cpu']}, {machine['usable_cores']} usable cores, torch {machine['torch']}, "
          f"load {machine['load_average_at_start']:.2f}; --auto {'available' if args.auto_available else 'not available'}")
    work = Path(tempfile.mkdtemp(prefix="quality-")) if args.keep is None else args.keep
    try:
        results = {name: run_task(TASKS[name], work / name, args) for name in args.tasks}
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"quick": args.quick, "budget": args.budget, "machine": machine,
                                     "seconds": round(time.perf_counter() - started, 1), "results": results},
                                    indent=2, default=str))
    print(f"\nwrote {args.json} ({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
