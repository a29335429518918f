"""Every export format of two runs, on this CPU: file size, export time, the task metric of the export beside the
run's model on the run's test split (paired bootstrap 95% interval) and speed, one request at a time.

    .venv/bin/python benchmarks/export_formats.py [--decoder RUN] [--classifier RUN] [--types q8_0,q4_0,q4_k_m,q6_k]

- decoder: a quickstart run (smollm2-135m LoRA on the order-extraction task); without --decoder one is trained with
  `tunesmith quickstart` (about 5 minutes). Formats: safetensors (merged float32, the reference size), PyTorch int8,
  GGUF f16 and each --types type (llama.cpp through llama-cpp-python), scored by JSON exact match.
- classifier: examples/sentiment_minilm.yaml (minilm-l6, full fine-tune); trained if --classifier is not given
  (about 3 minutes). Formats: safetensors, PyTorch int8, ONNX float32, ONNX int8, scored by accuracy.

Speed is what `tunesmith export` measures in its task check: seconds per request at batch 1 (and generated tokens
per second) for the export and for the run's model merged in PyTorch float32, in the same process.
Writes benchmarks/results/export_formats.json with the machine it ran on and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "runs" / "export-benchmark"


def train(args: list[str], output: Path) -> Path:
    """The run under `output` (trained first if there is none): `output` itself or its one run folder."""
    if not list(output.glob("config.yaml")) + list(output.glob("*/config.yaml")):
        subprocess.run([str(ROOT / ".venv" / "bin" / "tunesmith"), *args], check=True, cwd=ROOT)
    return output if (output / "config.yaml").is_file() else sorted(output.glob("*/config.yaml"))[-1].parent


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def weights_bytes(folder: Path, fmt: str, qtype: str | None) -> int:
    """What a user ships: the one model file (GGUF type), or every weight file of the folder."""
    if qtype:
        return (folder / f"model-{qtype}.gguf").stat().st_size
    suffixes = (".safetensors", ".bin", ".pt", ".onnx", ".data")
    return sum(p.stat().st_size for p in folder.rglob("*") if p.suffix in suffixes or p.name.endswith(".onnx.data"))


def export(run: Path, name: str, **options) -> tuple[dict, float, Path]:
    from tunesmith.export import EXPORT_INFO, export_run

    target = WORK / "exports" / name
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    export_run(run, target, force=True, log=print, **options)
    return json.loads((target / EXPORT_INFO).read_text()), time.perf_counter() - started, target


def rows_of(label: str, info: dict, seconds: float, folder: Path) -> list[dict]:
    task = info["check"].get("task") or {}
    exports = task.get("exports") or {}
    rows, seconds = [], info["check"].get("seconds", seconds)  # writing + output check, without the task check
    if not exports:  # exact formats: the logit check covers them; the run's own speed stands for them
        rows.append({"format": label, "bytes": weights_bytes(folder, info["format"], None), "export_seconds": seconds,
                     "check": {k: info["check"][k] for k in ("max_abs_diff", "top1_agreement") if k in info["check"]}})
    for key, result in exports.items():
        qtype = key if info["format"] in ("gguf", "ollama") else None
        name, metric = next(iter(result["metrics"].items()))
        rows.append({"format": f"{label} {key}" if qtype else label,
                     "bytes": weights_bytes(folder, info["format"], qtype),
                     "export_seconds": seconds, "metric": name, **metric, "same_output": result["same_output"],
                     "speed": result["speed"], "speedup": result["speedup"], "run_speed": task["run_speed"]})
    return rows


def markdown(rows: list[dict], reference_bytes: int) -> str:
    lines = ["| format | weights | share of float32 | metric: run → export [95% CI of difference] | speed vs run |",
             "|---|---|---|---|---|"]
    for r in rows:
        size = f"{r['bytes'] / 1e6:.0f} MB"
        share = f"{r['bytes'] / reference_bytes:.0%}"
        if "metric" in r:
            lo, hi = r["delta_ci95"]
            metric = f"{r['metric']} {r['run']:.1%} → {r['export']:.1%} [{lo:+.1%}, {hi:+.1%}]"
            tokens = r["speed"].get("tokens_per_second")
            speed = f"{r['speedup']:.1f}x" + (f" ({tokens:.0f} tokens/s)" if tokens else "")
        else:
            metric, speed = f"exact (max logit difference {r['check'].get('max_abs_diff', 0):.1g})", "1.0x"
        lines.append(f"| {r['format']} | {size} | {share} | {metric} | {speed} |")
    return "\n".join(lines)


def decoder_rows(run: Path, types: str) -> list[dict]:
    rows = []
    # min_agreement 0: measure the int8 export even where `tunesmith export` would refuse it (next-token agreement
    # under 90%); the table then says what it kept.
    for label, options in (("safetensors", {}), ("int8", {"quantize": "int8", "min_agreement": 0.0}),
                           ("gguf", {"fmt": "gguf", "quantize": types})):
        rows += rows_of(label, *export(run, f"decoder-{label}", **options))
    return rows


def classifier_rows(run: Path) -> list[dict]:
    rows = []
    for label, options in (("safetensors", {}), ("int8", {"quantize": "int8", "min_agreement": 0.0}),
                           ("onnx", {"fmt": "onnx"}),
                           ("onnx int8", {"fmt": "onnx", "quantize": "int8"})):
        rows += rows_of(label, *export(run, f"classifier-{label.replace(' ', '-')}", **options))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decoder", type=Path)
    parser.add_argument("--classifier", type=Path)
    parser.add_argument("--types", default="q8_0,q4_0,q4_k_m,q6_k")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "export_formats.json")
    args = parser.parse_args()
    decoder = args.decoder or train(["quickstart", "--output", str(WORK / "quickstart")], WORK / "quickstart")
    classifier = args.classifier or train(
        ["train", "examples/sentiment_minilm.yaml", "--set", f"output.dir={WORK / 'runs'}", "--set",
         "output.name=sentiment"], WORK / "runs" / "sentiment")
    results = {"decoder_run": str(decoder), "classifier_run": str(classifier),
               "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "python": sys.version.split()[0]}}
    for key, rows in (("decoder", decoder_rows(decoder, args.types)), ("classifier", classifier_rows(classifier))):
        results[key] = rows
        print(f"\n{key} ({results[f'{key}_run']}):\n" + markdown(rows, rows[0]["bytes"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
