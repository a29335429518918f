"""`tunesmith compare RUN RUN ...`: several runs in one table and one set of plots (compare.html + compare.json)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.evaluate import plots
from tunesmith.evaluate.report import build_report, fmt
from tunesmith.evaluate.report_html import STYLE, esc, image, section, table
from tunesmith.runs import write_atomic, write_json


def _labels(runs: list[Path]) -> list[str]:
    """Run folder names, with the parent folder added where two runs share a name."""
    names = [r.name for r in runs]
    return [f"{r.parent.name}/{r.name}" if names.count(r.name) > 1 else r.name for r in runs]


def _mean(values: list) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def run_row(label: str, report: dict) -> dict:
    """The comparable numbers of one run (None where the run did not measure them)."""
    config, summary = report["config"], report["training"]["summary"]
    evaluation = report["evaluation"]
    forgetting, bias = evaluation.get("forgetting") or {}, evaluation.get("bias") or {}
    row = {"run": label, "status": report["status"], "model": report["model"], "method": report["method"],
           "objective": report["objective"], "learning_rate": config["training"]["learning_rate"],
           "lora_r": config["method"]["r"] if report["method"] in ("lora", "dora", "qlora") else None,
           "steps": summary.get("steps"), "train_seconds": summary.get("train_seconds"),
           "tokens_per_second": _mean([h.get("tokens_per_second") for h in report["training"]["history"]]),
           "final_train_loss": summary.get("final_train_loss"), "eval_loss": summary.get("eval_loss")}
    for name, metric in (evaluation.get("metrics") or {}).items():
        row[f"{name} (tuned)"], row[f"{name} (delta)"] = metric["tuned"], metric["delta"]
    row.update({"forgetting_kl": forgetting.get("kl_per_token"), "forgetting": forgetting.get("verdict"),
                "bias_flip_rate": bias.get("flip_rate_tuned"), "bias": bias.get("verdict")})
    return row


def compare_runs(runs: list[Path], out: Path) -> dict:
    """Write the comparison page to `out` (and the same numbers beside it as .json); returns them."""
    if len(runs) < 2:
        raise UserError("compare needs at least two run directories", hint="tunesmith compare runs/a runs/b")
    reports = {label: build_report(run) for label, run in zip(_labels(runs), runs)}
    rows = [run_row(label, report) for label, report in reports.items()]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    metric_names = [c.removesuffix(" (tuned)") for c in columns if c.endswith(" (tuned)")]
    tuned = {m: {r["run"]: r[f"{m} (tuned)"] for r in rows if r.get(f"{m} (tuned)") is not None}
             for m in metric_names}
    costs = {"forgetting KL/token": {r["run"]: r["forgetting_kl"] for r in rows if r["forgetting_kl"] is not None},
             "bias flip rate": {r["run"]: r["bias_flip_rate"] for r in rows if r["bias_flip_rate"] is not None}}
    images = [image(plots.runs_png({k: v["training"]["history"] for k, v in reports.items()}), "losses"),
              image(plots.runs_metrics_png(tuned, "fine-tuned"), "task metrics"),
              image(plots.runs_metrics_png(costs, "lower is better"), "costs")]
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>tunesmith compare</title>"
            f"<style>{STYLE}</style></head><body><h1>{esc(len(rows))} runs compared</h1>"
            + section("Runs", table(columns, [[fmt(r.get(c)) for c in columns] for r in rows]))
            + section("Plots", *images) + "</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, page)
    result = {"runs": [str(r) for r in runs], "columns": columns, "rows": rows}
    write_json(out.with_suffix(".json"), result)
    return result
