"""Run the shipped examples on the bundled real models and report their metrics and wall time.

    .venv/bin/python benchmarks/example_runs.py [--only sentiment|dpo]

- sentiment classification on minilm-l6 with method head vs lora vs full (test accuracy, macro-F1, time);
- sentiment with smollm2-135m + a classification head (head only, cached features);
- DPO on order-extraction preferences with smollm2-135m + LoRA (validation reward margin first vs last).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console

from tunesmith.config import load_config
from tunesmith.training import train

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = [("minilm-l6", "head", ["training.epochs=30", "training.learning_rate=1e-2"]), ("minilm-l6", "lora", ["training.learning_rate=5e-4"]),
             ("minilm-l6", "full", ["training.learning_rate=5e-5"])]


def run(config_name: str, overrides: list[str], out: Path) -> tuple[Path, float]:
    config = load_config(ROOT / "examples" / config_name, [*overrides, f"output.dir={out}"])
    started = time.perf_counter()
    run_dir = train(config, Console(quiet=True))
    return run_dir, time.perf_counter() - started


def sentiment_rows(out: Path) -> list[dict]:
    rows = []
    cases = [("sentiment_minilm.yaml", model, method, extra) for model, method, extra in SENTIMENT]
    cases.append(("sentiment_smollm2_head.yaml", "smollm2-135m", "head", []))
    for config_name, model, method, extra in cases:
        run_dir, seconds = run(config_name, [f"method.name={method}", f"output.name={model}-{method}", *extra], out)
        test = json.loads((run_dir / "summary.json").read_text())["test"]
        rows.append({"model": model, "method": method, "test_accuracy": round(test["test_accuracy"], 3),
                     "test_macro_f1": round(test["test_macro_f1"], 3), "seconds": round(seconds, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def dpo_row(out: Path) -> dict:
    run_dir, seconds = run("dpo_orders.yaml", ["output.name=dpo"], out)
    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    margins = [r["eval_rewards/margins"] for r in evals if "eval_rewards/margins" in r]
    accuracy = [r["eval_rewards/accuracies"] for r in evals if "eval_rewards/accuracies" in r]
    row = {"model": "smollm2-135m", "method": "lora", "objective": "dpo", "eval_margin_first": round(margins[0], 3),
           "eval_margin_last": round(margins[-1], 3), "eval_reward_accuracy_last": round(accuracy[-1], 3),
           "seconds": round(seconds, 1)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sentiment", "dpo"])
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sentiment"):
            sentiment_rows(Path(tmp))
        if args.only in (None, "dpo"):
            dpo_row(Path(tmp))


if __name__ == "__main__":
    main()
