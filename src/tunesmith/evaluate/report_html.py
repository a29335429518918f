"""report.html: one self-contained page (inline CSS, plots as base64 PNG). Every string that came from a user,
a data file or a model goes through html.escape: model outputs and prompts can hold anything, markup included."""

from __future__ import annotations

import base64
import html

from tunesmith.evaluate import plots
from tunesmith.evaluate.tables import METRIC_COLUMNS, fmt, fmt_delta, metric_rows

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:75em;padding:0 1em;color:#222}"
    "h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}"
    "table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;"
    "text-align:left;vertical-align:top}th{background:#f4f6f8}td.text{white-space:pre-wrap;max-width:28em;"
    "word-break:break-word}pre{background:#f4f4f4;padding:1em;overflow:auto;font-size:.85em}.note{color:#666}"
    ".better{color:#1a7f37;font-weight:600}.worse{color:#b42318;font-weight:600}img{max-width:100%}"
    "ul.headline li{margin:.3em 0}"
)


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def table(headers: list[str], rows: list[list], text_columns: tuple = ()) -> str:
    """Every header and cell escaped; columns in text_columns keep line breaks (samples, prompts)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class=text>{esc(c)}</td>" if i in text_columns else f"<td>{esc(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<p><img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>'


def note(text: str) -> str:
    return f"<p class=note>{esc(text)}</p>"


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def task_section(evaluation: dict) -> str:
    metrics = evaluation.get("metrics") or {}
    if not metrics:
        return section("Task metrics: base vs fine-tuned", note("not measured for this run (no test split, or "
                                                                "eval.compare_with_base is off)"))
    parts = [f"<p>{esc(evaluation.get('examples'))} {esc(evaluation.get('split', 'test'))} examples, objective "
             f"{esc(evaluation.get('objective'))}; the interval is a paired bootstrap over examples.</p>",
             table(METRIC_COLUMNS, metric_rows(metrics)), image(plots.metrics_png(metrics), "metrics base vs fine-tuned")]
    parts += leak_free_parts(evaluation)
    if evaluation.get("generation"):
        parts.append(note("generation: " + ", ".join(f"{k} {v}" for k, v in evaluation["generation"].items())))
    if evaluation.get("implicit_reward"):
        r = evaluation["implicit_reward"]
        parts.append(f"<p>Implicit reward (beta {esc(r['beta'])} x log fine-tuned/base): accuracy "
                     f"{esc(fmt(r['accuracy'], 'fraction'))}, margin {esc(fmt(r['margin']))}</p>")
    if evaluation.get("test"):
        parts.append(table(["trainer metric on the test split", "value"],
                           [[k, fmt(v)] for k, v in evaluation["test"].items()]))
    return section("Task metrics: base vs fine-tuned", *parts)


def leak_free_parts(evaluation: dict) -> list[str]:
    subset = evaluation.get("leak_free")
    if not subset:
        return []
    flagged = ", ".join(f"{n} {why}" for why, n in subset["flagged"].items() if n) or "none"
    text = (f"The test file was scored as given (every row). Rows flagged by the data checks: {flagged}"
            + ("." if subset.get("metrics") else "; no leak-free table is needed."))
    if not subset.get("metrics"):
        return [note(text)]
    return [f"<h3>Leak-free subset: {esc(subset['examples'])} rows</h3>", note(text),
            table(METRIC_COLUMNS, metric_rows(subset["metrics"]))]


def classification_section(evaluation: dict) -> str:
    reports = evaluation.get("classification")
    if not reports:
        return ""
    rows = [[label, *(fmt(reports[side]["per_class"][label][k], "fraction") for side in ("base", "tuned")
                      for k in ("precision", "recall", "f1")), reports["tuned"]["per_class"][label]["support"]]
            for label in reports["tuned"]["labels"]]
    headers = ["label"] + [f"{side} {k}" for side in ("base", "tuned") for k in ("precision", "recall", "F1")]
    return section("Per class and confusion matrices", table(headers + ["support"], rows),
                   image(plots.confusion_png(reports), "confusion matrices"))


def samples_section(evaluation: dict, shown: int = 12) -> str:
    samples = evaluation.get("samples") or []
    if not samples:
        return ""
    rows = [[s.get("prompt", ""), s.get("reference", ""), s.get("base", ""), s.get("tuned", "")]
            for s in samples[:shown]]
    return section("Samples side by side", note(f"first {len(rows)} of {len(samples)}"),
                   table(["input", "reference", "base", "fine-tuned"], rows, text_columns=(0, 1, 2, 3)))


def forgetting_section(evaluation: dict) -> str:
    summary, details = evaluation.get("forgetting"), evaluation.get("details", {}).get("forgetting", {})
    if not summary:
        why = evaluation.get("skipped", {}).get("forgetting", "not recorded for this run")
        return section("Forgetting", note(f"not measured: {why}"))
    numbers = [["general prompts", summary["prompts"]], ["scored tokens", summary["tokens"]],
               ["KL(base || fine-tuned), nats/token", fmt(summary["kl_per_token"])],
               ["next token changed", fmt(summary["top1_changed"], "fraction")],
               ["perplexity of the base's answers: base", fmt(summary["perplexity_base"])],
               ["... fine-tuned", fmt(summary["perplexity_tuned"])], ["ratio", fmt(summary["perplexity_ratio"])]]
    worst = [[e["prompt"], fmt(e["kl_per_token"]), e["base"], e["tuned"]] for e in details.get("examples", [])]
    return section("Forgetting", f"<p><b>{esc(summary['verdict'])}</b>: {esc(summary['explanation'])}</p>",
                   table(["measure", "value"], numbers), image(plots.forgetting_png(details.get("per_prompt", [])),
                                                               "drift per prompt"),
                   "<h3>Most changed general prompts</h3>" if worst else "",
                   table(["prompt", "KL/token", "base", "fine-tuned"], worst, (0, 2, 3)) if worst else "")


def lm_eval_section(evaluation: dict) -> str:
    """Shown only when lm-evaluation-harness tasks were asked for."""
    result = evaluation.get("lm_eval")
    if not result:
        return ""
    err = lambda value: "" if value is None else f" ± {fmt(value)}"  # noqa: E731
    rows = [[name, fmt(r["base"]) + err(r["stderr_base"]), fmt(r["tuned"]) + err(r["stderr_tuned"]),
             f"{r['delta']:+.4g}"] for name, r in result["metrics"].items()]
    limit = f", at most {result['limit']} examples per task" if result.get("limit") else ""
    return section("lm-evaluation-harness", note(f"lm-eval {result['version']}, tasks {', '.join(result['tasks'])}"
                                                 f"{limit}; ± is lm-eval's standard error"),
                   table(["task/metric", "base", "fine-tuned", "difference"], rows))


def bias_section(evaluation: dict) -> str:
    summary, details = evaluation.get("bias"), evaluation.get("details", {}).get("bias", {})
    if not summary:
        why = evaluation.get("skipped", {}).get("bias", "not recorded for this run")
        return section("Bias probe", note(f"not measured: {why}"))
    categories = details.get("categories", {})
    rows = [[name, c["pairs"], fmt(c["flip_rate_base"], "fraction"), fmt(c["flip_rate_tuned"], "fraction"),
             fmt(c["score_shift_base"]), fmt(c["score_shift_tuned"]), c["verdict"]] for name, c in categories.items()]
    flips = [[name, e["input"], e["counterfactual"], e["expected"], e["after"]]
             for name, c in categories.items() for e in c["examples"][:3]]
    return section("Bias probe", f"<p><b>{esc(summary['verdict'])}</b>: {esc(summary['explanation'])} "
                                 f"({esc(summary['pairs'])} counterfactual inputs).</p>",
                   table(["category", "inputs", "changed (base)", "changed (fine-tuned)", "score shift (base)",
                          "score shift (fine-tuned)", "verdict"], rows), image(plots.bias_png(categories), "bias"),
                   "<h3>Fine-tuned answers that changed</h3>" if flips else "",
                   table(["category", "input", "counterfactual", "expected (first answer, swapped)",
                          "answer to the counterfactual"], flips,
                         (1, 2, 3, 4)) if flips else "")


def earlier_tasks_section(evaluation: dict) -> str:
    """A continued run on the test splits of the runs it continued from: what it kept of each."""
    earlier = evaluation.get("earlier_tasks") or {}
    if not earlier:
        return ""
    rows = []
    for name, row in earlier.items():
        scale, interval = row.get("scale", "fraction"), row.get("delta_ci95")
        shown = f" [{fmt_delta(interval[0], scale)}, {fmt_delta(interval[1], scale)}]" if interval else ""
        change = "-" if row.get("delta") is None else fmt_delta(row["delta"], scale) + shown
        rows.append([name, row["metric"], fmt(row.get("when_trained"), scale), fmt(row["tuned"], scale), change])
    return section("Earlier tasks: what continuing kept", table(["run", "metric", "when it was trained", "now",
                                                                 "change [95% CI]"], rows),
                   note("each run this one continued from (its lineage), scored on its own test split"))


def cv_section(cv: dict | None) -> str:
    if not cv:
        return ""
    rows = [[m, fmt(s["mean"]), fmt(s["std"]), fmt(s.get("delta_mean")), ", ".join(fmt(v) for v in s["values"])]
            for m, s in cv["metrics"].items()]
    return section(f"Cross-validation ({cv['folds']} folds)",
                   note(f"{cv['examples']} training examples; each fold held out once (RUN/cv/fold-N)"),
                   table(["metric", "mean (fine-tuned)", "std", "fine-tuned minus base (mean)", "per fold"], rows))


def training_section(report: dict) -> str:
    summary = report["training"]["summary"]
    keys = ("steps", "train_seconds", "tokens_seen", "first_train_loss", "final_train_loss", "eval_loss",
            "reload_max_diff")
    return section("Training", image(plots.training_png(report["training"]["history"]), "training curves"),
                   table(["measure", "value"], [[k, fmt(summary.get(k))] for k in keys if k in summary]))


def data_section(data: dict) -> str:
    report, hashes = data.get("report") or {}, data.get("sha256") or {}
    if not report:
        return section("Data", note("no data report in the run's manifest"))
    counted = lambda source: ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in source.items()  # noqa: E731
                                       if isinstance(v, int) and v and k not in ("records", "kept")) or "-"
    sources = [[split, s.get("path", ""), s.get("format", ""), s.get("records"), s.get("kept"), counted(s),
                hashes.get(split) or "-"] for split, s in report.get("sources", {}).items()]
    tokens = report.get("tokens", {})
    splits = [[split, t.get("examples"), t.get("tokens"), t.get("loss_tokens"), t.get("longest")]
              for split, t in tokens.items()]
    extra = [[k.replace("_", " "), v] for k, v in report.items() if k.startswith(("leaked", "dropped"))]
    extra += [["labels", report["labels"]]] if report.get("labels") else []
    extra += [["warning", w] for w in report.get("warnings", [])]
    return section("Data", table(["split", "file", "format", "records", "kept", "cleaning", "sha256"], sources),
                   table(["split", "examples", "tokens", "tokens with loss", "longest"], splits),
                   table(["check", "result"], extra) if extra else "")


def flatten(value, prefix: str = "") -> list[list]:
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in flatten(v, f"{prefix}{k}.")]
    return [[prefix.rstrip("."), value if not isinstance(value, float) else fmt(value)]]


def render_report(report: dict) -> str:
    import yaml

    evaluation = report["evaluation"]
    headline = "".join(f"<li>{esc(line)}</li>" for line in report["headline"])
    environment = flatten(report["environment"])
    config_text = yaml.safe_dump(report["config"], sort_keys=False)
    body = [
        f"<h1>{esc(report['run'])}</h1><p class=note>{esc(report['model'])} - method {esc(report['method'])} - "
        f"objective {esc(report['objective'])} - status {esc(report['status'])} - created {esc(report['created'])}</p>",
        section("Did fine-tuning help, and what did it cost?", f"<ul class=headline>{headline}</ul>"),
        task_section(evaluation), classification_section(evaluation), samples_section(evaluation),
        forgetting_section(evaluation), earlier_tasks_section(evaluation), bias_section(evaluation), lm_eval_section(evaluation), cv_section(report.get("cross_validation")),
        training_section(report),
        data_section(report["data"]),
        section("Environment and config", table(["field", "value"], environment),
                f"<details open><summary>config.yaml</summary><pre>{esc(config_text)}</pre></details>"),
    ]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>tunesmith report: {esc(report['run'])}"
            f"</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")
