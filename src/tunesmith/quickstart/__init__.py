"""`tunesmith quickstart`: generate the order-extraction data, fine-tune the default model, compare with base."""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith.config import apply_overrides, build_config, read_yaml
from tunesmith.quickstart.orders import SYSTEM_PROMPT, make_examples, write_jsonl
from tunesmith.runs import read_json

EXAMPLE_CONFIG = Path(__file__).parent / "quickstart.yaml"
SIZES = {"train": 480, "validation": 32, "test": 60}


def write_data(folder: Path, seed: int = 0) -> dict[str, Path]:
    examples = make_examples(sum(SIZES.values()), seed)
    paths, start = {}, 0
    for split, n in SIZES.items():
        paths[split] = folder / f"{split}.jsonl"
        write_jsonl(paths[split], examples[start : start + n])
        start += n
    return paths


def run_quickstart(output: Path, overrides: list[str], console) -> Path:
    from rich.table import Table

    from tunesmith.training import train

    started = time.perf_counter()
    paths = write_data(output / "data")
    console.print(f"example data: {', '.join(f'{k} {SIZES[k]} ({p})' for k, p in paths.items())}")
    raw = read_yaml(EXAMPLE_CONFIG)
    raw["data"].update({k: str(p) for k, p in paths.items()}, system_prompt=SYSTEM_PROMPT)
    raw["output"] = {"dir": str(output)}
    config = build_config(apply_overrides(raw, overrides), str(EXAMPLE_CONFIG))
    run = train(config, console)
    comparison = read_json(run / "eval.json")
    table = Table(title=f"held-out test set ({comparison.get('examples', 0)} orders): base vs fine-tuned")
    for column in ("metric", "base smollm2-135m", "fine-tuned (LoRA)", "difference [95% CI]"):
        table.add_column(column)
    for name, row in comparison.get("metrics", {}).items():
        lo, hi = row["delta_ci95"]
        table.add_row(name, f"{row['base']:.1%}", f"{row['tuned']:.1%}", f"{row['delta']:+.1%} [{lo:+.1%}, {hi:+.1%}]")
    console.print(table)
    for sample in comparison.get("samples", [])[:3]:
        console.print(f"\norder:      {sample['prompt']}\nbase:       {sample['base'][:160]}\n"
                      f"fine-tuned: {sample['tuned']}", highlight=False, markup=False)
    console.print(f"\nfinished in {time.perf_counter() - started:.0f} s; run directory {run}\n"
                  f"try it: tunesmith chat {run} --prompt \"Tom here - two big bagels for pickup\"")
    return run
