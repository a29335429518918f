"""continual.html: the comparison of mitigations (what each kept of every earlier task), each sequence's accuracy
matrix, and a plot of every task's metric across the stages; the terminal table is built from the same rows."""

from __future__ import annotations

from pathlib import Path

from tunesmith.evaluate.plots import new_figure, to_png
from tunesmith.evaluate.report_html import STYLE, esc, image, note, section, table
from tunesmith.evaluate.tables import fmt, fmt_delta
from tunesmith.runs import write_atomic

COMPARISON_COLUMNS = ["mitigation", "final average", "backward transfer", "forward transfer", "train s"]


def _delta(value, scale: str) -> str:
    return "-" if value is None else fmt_delta(value, scale).replace(" points", "")


def _kept(task: dict, scale: str) -> str:
    """'100.0% -> 66.7% (-33.3 [-43.3, -24.4])': from its own stage to the end, the change with its interval."""
    points = lambda v: f"{100 * v:+.1f}" if scale == "fraction" else f"{v:+.3g}"  # noqa: E731
    interval = task.get("delta_ci95")
    shown = f" [{points(interval[0])}, {points(interval[1])}]" if interval else ""
    return f"{fmt(task['when_trained'], scale)} -> {fmt(task['final'], scale)} ({points(task['delta'])}{shown})"


def comparison_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    """One row per mitigation: the summary numbers, then each earlier task from when it was trained to the end."""
    names = [t["name"] for t in result["tasks"]]
    headers = COMPARISON_COLUMNS + [f"{n}: trained -> end (change [95% CI])" for n in names[:-1]]
    rows = []
    for mitigation, sequence in result["sequences"].items():
        s, scale = sequence["summary"], sequence["matrix"][-1][0]["scale"]
        rows.append([mitigation, fmt(s["final_average"], scale), _delta(s["backward_transfer"], scale),
                     _delta(s["forward_transfer"], scale), str(sequence["seconds"])]
                    + [_kept(s["tasks"][n], scale) for n in names[:-1]])
    return headers, rows


def matrix_rows(sequence: dict, names: list[str]) -> list[list[str]]:
    scale = sequence["matrix"][0][0]["scale"]
    rows = [["base model", *(fmt(cell["base"], scale) for cell in sequence["base"])]]
    rows += [[f"after {i + 1}. {names[i]}", *(fmt(cell["tuned"], scale) for cell in row)]
             for i, row in enumerate(sequence["matrix"])]
    return rows


def stages_png(result: dict) -> bytes | None:
    """Each task's metric after every stage, one panel per mitigation."""
    names, sequences = [t["name"] for t in result["tasks"]], result["sequences"]
    if not sequences:
        return None
    figure, panels = new_figure(4.2 * len(sequences), 3.2, len(sequences))
    for panel, (mitigation, sequence) in zip(panels, sequences.items()):
        for j, name in enumerate(names):
            panel.plot(range(1, len(names) + 1), [row[j]["tuned"] for row in sequence["matrix"]], "o-", label=name)
        panel.set_title(mitigation)
        panel.set_xlabel("after stage")
        panel.set_xticks(range(1, len(names) + 1))
        panel.set_ylabel(sequence["summary"]["metric"])
    panels[0].legend(fontsize=8)
    return to_png(figure)


def render(result: dict) -> str:
    names = [t["name"] for t in result["tasks"]]
    headers, rows = comparison_rows(result)
    parts = [f"<h1>Continual fine-tuning: {esc(' -> '.join(names))}</h1>",
             section("What each mitigation kept", table(headers, rows),
                     note("backward transfer: mean change of the earlier tasks from their own stage to the end "
                          "(negative = forgetting); forward transfer: what earlier stages did for a task before it "
                          "was trained, against the base; intervals: paired bootstrap over the task's test rows"),
                     image(stages_png(result), "each task's metric after every stage"))]
    for mitigation, sequence in result["sequences"].items():
        parts.append(section(f"Accuracy matrix: {mitigation}", table(["model", *names], matrix_rows(sequence, names)),
                             note("runs: " + ", ".join(sequence["runs"]))))
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>tunesmith continual</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def write_continual_report(folder: Path, result: dict) -> Path:
    write_atomic(folder / "continual.html", render(result))
    return folder / "continual.html"
