"""Per-run report: report.json (everything the run recorded, in one file) and report.html (the same as one
self-contained page with the plots embedded), built from the files in the run directory."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.evaluate.report_html import render_report
from tunesmith.evaluate.tables import METRIC_COLUMNS, fmt, fmt_delta, judge, metric_rows
from tunesmith.runs import open_run, read_json, write_atomic, write_json


def read_history(run: Path) -> list[dict]:
    """The rows of metrics.jsonl; a line cut short by a crash is skipped, not fatal."""
    path = run / "metrics.jsonl"
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def metrics_table(title: str, metrics: dict):
    """The base-vs-fine-tuned table for the terminal (a rich Table)."""
    from rich.table import Table

    table = Table(*METRIC_COLUMNS, title=title)
    for row in metric_rows(metrics):
        table.add_row(*row)
    return table


def headline(evaluation: dict, summary: dict) -> list[str]:
    """Plain sentences: did fine-tuning help, and what did it cost."""
    lines = []
    for name, row in (evaluation.get("metrics") or {}).items():
        scale = row.get("scale", "fraction")
        low, high = row["delta_ci95"]
        lines.append(f"{name}: {fmt(row['base'], scale)} (base) -> {fmt(row['tuned'], scale)} (fine-tuned), "
                     f"{fmt_delta(row['delta'], scale)}, 95% interval {fmt_delta(low, scale)} to "
                     f"{fmt_delta(high, scale)}: {judge(row)}.")
    subset = evaluation.get("leak_free") or {}
    for name, row in (subset.get("metrics") or {}).items():
        scale = row.get("scale", "fraction")
        lines.append(f"{name} on the leak-free subset ({subset['examples']} rows without the flagged duplicates and "
                     f"repeats of training data): {fmt(row['base'], scale)} -> {fmt(row['tuned'], scale)}.")
    if not lines:
        lines.append("No base-vs-fine-tuned comparison on held-out data was recorded (no test split, or "
                     "eval.compare_with_base is off).")
    for name, row in (evaluation.get("earlier_tasks") or {}).items():
        if row.get("when_trained") is not None:
            scale = row.get("scale", "fraction")
            lines.append(f"Earlier task {name}: {row['metric']} {fmt(row['when_trained'], scale)} when it was "
                         f"trained -> {fmt(row['tuned'], scale)} now ({fmt_delta(row['delta'], scale)}).")
    forgetting, bias = evaluation.get("forgetting"), evaluation.get("bias")
    if forgetting:
        lines.append(f"Forgetting ({forgetting['verdict']}): {forgetting['explanation']} (KL "
                     f"{forgetting['kl_per_token']:.3g} nats/token; next token changed at "
                     f"{forgetting['top1_changed']:.0%} of positions over {forgetting['prompts']} general prompts).")
    if bias:
        lines.append(f"Bias ({bias['verdict']}): {bias['explanation']} (answer changed for "
                     f"{bias['flip_rate_tuned']:.0%} of {bias['pairs']} counterfactual inputs; base "
                     f"{bias['flip_rate_base']:.0%}).")
    if summary.get("train_seconds") is not None:
        lines.append(f"Training took {summary['train_seconds']} s for {summary.get('steps')} steps "
                     f"({summary.get('tokens_seen')} tokens).")
    return lines


def _evaluated_line(evaluated: dict | None) -> list[str]:
    if not evaluated:
        return []
    return [f"Evaluated the {evaluated['kind']} {evaluated['target']} against its base {evaluated['base']} "
            "(this folder holds an evaluation, not a training run)."]


def build_report(run: Path) -> dict:
    config, manifest = open_run(run)
    summary, evaluation = read_json(run / "summary.json"), read_json(run / "eval.json")
    return {
        "run": run.name, "path": str(run), "status": manifest.get("status"), "created": manifest.get("created"),
        "model": config.model.name, "method": config.method.name, "objective": config.objective.name,
        "headline": _evaluated_line(manifest.get("evaluated")) + headline(evaluation, summary),
        "evaluated": manifest.get("evaluated"),
        "training": {"summary": summary, "history": read_history(run)},
        "evaluation": evaluation, "cross_validation": read_json(run / "cv.json") or None,
        "data": {"report": manifest.get("data_report", {}), "sha256": manifest.get("data_sha256", {})},
        "environment": {"versions": manifest.get("versions", {}), "hardware": manifest.get("hardware"),
                        "seed": manifest.get("seed")},
        "config": config.model_dump(mode="json"),
    }


def write_report(run: Path) -> Path:
    """Write report.json and report.html into the run directory; returns the page's path."""
    report = build_report(run)
    write_json(run / "report.json", report)
    write_atomic(run / "report.html", render_report(report))
    return run / "report.html"
