"""What a sweep leaves in its folder: trials.csv/json, best.yaml (ready to train), history and importance plots,
and report.html, a single page with everything inlined."""

from __future__ import annotations

import base64
import csv
import html
import io
import warnings
from pathlib import Path

from tunesmith.config import RunConfig, dump_config
from tunesmith.runs import write_atomic, write_json
from tunesmith.sweep.space import direction, metric_key, with_values


def _row(trial) -> dict:
    intermediate = trial.intermediate_values
    return {"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
            "last_reported": intermediate[max(intermediate)] if intermediate else None,
            **trial.params, "steps": trial.user_attrs.get("steps"), "seconds": trial.user_attrs.get("seconds"),
            "run": trial.user_attrs.get("run"), "origin": trial.user_attrs.get("origin", "sampled"),
            "note": trial.user_attrs.get("note", "")}


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())


def best_trial(study):
    """The best complete trial, or None while none has completed (optuna's best_trial raises then)."""
    from optuna.trial import TrialState

    return study.best_trial if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else None


def best_config_text(study, config: RunConfig, best, metric: str, folder: Path) -> str:
    """The sweep's config with the best values, as a plain run config (no sweep section, the full step budget)."""
    best_config = with_values(config, best.params, config.output.dir, None)
    header = (f"# best of {len(study.trials)} trials: {metric} {best.value:.6g} (trial {best.number}, run "
              f"{folder / str(best.user_attrs.get('run'))}, trained {best.user_attrs.get('steps')} steps)\n"
              f"# train it: tunesmith train {folder / 'best.yaml'}\n")
    return header + dump_config(best_config)


def _figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def history_png(rows: list[dict], metric: str, minimize: bool) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.5, 3.6))
    axes = figure.subplots()
    done = [r for r in rows if r["state"] == "complete"]
    pruned = [r for r in rows if r["state"] == "pruned" and r["last_reported"] is not None]
    axes.scatter([r["number"] for r in done], [r["value"] for r in done], label="completed", color="tab:blue")
    axes.scatter([r["number"] for r in pruned], [r["last_reported"] for r in pruned], marker="x", color="tab:gray",
                 label="pruned (last value reported)")
    best, line = None, []
    for r in done:
        best = r["value"] if best is None or (r["value"] < best) == minimize else best
        line.append((r["number"], best))
    if line:
        line.append((max(r["number"] for r in rows), best))
        axes.step(*zip(*line), where="post", color="tab:orange", label="best so far")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial")
    axes.set_ylabel(metric)
    axes.legend(fontsize="small")
    return _figure_png(figure)


def importances(study) -> dict[str, float] | None:
    """PED-ANOVA importances (needs no scikit-learn, unlike fANOVA); None while too few trials have completed."""
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
    except (ValueError, RuntimeError):
        return None


def importance_png(scores: dict[str, float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = list(scores)[::-1]
    figure = Figure(figsize=(6.5, 0.6 + 0.45 * len(names)))
    axes = figure.subplots()
    axes.barh(names, [scores[n] for n in names], color="tab:blue")
    axes.set_xlabel("importance (PED-ANOVA, share of the total)")
    axes.set_xlim(0, 1)
    return _figure_png(figure)


def write_report(study, config: RunConfig, folder: Path) -> dict:
    """Write every report file from the study as it stands; returns the summary also saved as trials.json."""
    metric, minimize = metric_key(config.sweep), direction(config.sweep) == "minimize"
    rows = [_row(t) for t in study.trials]
    best = best_trial(study)
    counts = {state: sum(r["state"] == state for r in rows) for state in ("complete", "pruned", "fail", "running")}
    summary = {"metric": metric, "direction": direction(config.sweep), "counts": counts,
               "best": {"number": best.number, "value": best.value, "params": best.params,
                        "run": best.user_attrs.get("run")} if best else None,
               "importances": importances(study) if counts["complete"] >= 2 else None, "trials": rows}
    _write_csv(folder / "trials.csv", rows)
    write_json(folder / "trials.json", summary)
    best_text = best_config_text(study, config, best, metric, folder) if best else None
    if best_text:
        write_atomic(folder / "best.yaml", best_text)
    images = {"history.png": history_png(rows, metric, minimize) if rows else None,
              "importance.png": importance_png(summary["importances"]) if summary["importances"] else None}
    for name, png in images.items():
        if png:
            (folder / name).write_bytes(png)
    write_atomic(folder / "report.html", report_html(folder.name, summary, best_text, images))
    return summary


def _image(png: bytes | None, alt: str, missing: str) -> str:
    if not png:
        return f"<p class=note>{html.escape(missing)}</p>"
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    show = lambda v: "" if v is None else f"{v:.5g}" if isinstance(v, float) else str(v)  # noqa: E731
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr class=%s>%s</tr>" % (row["state"], "".join(f"<td>{html.escape(show(row.get(c)))}</td>"
                                                                   for c in columns)) for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;"
         "font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}tr.pruned{color:#777}"
         "tr.fail{color:#a00}pre{background:#f4f4f4;padding:1em;overflow:auto}.note{color:#777}")


def report_html(name: str, summary: dict, best_text: str | None, images: dict) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in summary["counts"].items() if n)
    best = summary["best"]
    best_part = (f"<p>trial {best['number']} ({html.escape(str(best['run']))}): {summary['metric']} "
                 f"{best['value']:.5g}</p><pre>{html.escape(best_text)}</pre>" if best else
                 "<p class=note>no trial has completed yet</p>")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>sweep {html.escape(name)}</title>"
            f"<style>{STYLE}</style></head><body><h1>Sweep {html.escape(name)}</h1>"
            f"<p>{summary['direction']} {summary['metric']} on validation; trials: {counts or 'none'}</p>"
            f"<h2>Best configuration</h2>{best_part}"
            f"<h2>Optimisation history</h2>{_image(images['history.png'], 'history', 'no trial yet')}"
            f"<h2>Parameter importance</h2>"
            f"{_image(images['importance.png'], 'importance', 'needs at least two completed trials')}"
            f"<h2>Trials</h2>{_table(summary['trials'])}</body></html>\n")
