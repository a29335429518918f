"""federated.html: the systems compared on the test split, the validation metric of each federation per round, and
the partition (rows and labels per client); the terminal table is built from the same rows."""

from __future__ import annotations

from pathlib import Path

from tunesmith.evaluate.plots import new_figure, to_png
from tunesmith.evaluate.report_html import STYLE, esc, image, note, section, table
from tunesmith.evaluate.tables import fmt
from tunesmith.runs import write_atomic

COLUMNS = ["system", "test metric [95% CI]", "vs centralised [95% CI]", "share of centralised", "wall s",
           "MB per round"]


def _interval(values, scale: str, signed: bool = False) -> str:
    if not values:
        return ""
    shown = (lambda v: f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}") if scale == "fraction" else (
        lambda v: f"{v:+.3g}" if signed else f"{v:.3g}")
    return f" [{shown(values[0])}, {shown(values[1])}]"


def system_rows(result: dict) -> list[list[str]]:
    rows = []
    for s in result["systems"]:
        scale = s.get("scale", "fraction")
        delta = s.get("vs_centralised_delta")
        versus = "-" if delta is None else (f"{100 * delta:+.1f}" if scale == "fraction" else f"{delta:+.3g}") + \
            _interval(s.get("vs_centralised_delta_ci95"), scale, signed=True)
        share = s.get("share_of_centralised")
        rows.append([s["system"], f"{s.get('metric', '')} {fmt(s.get('tuned'), scale)}{_interval(s.get('ci95'), scale)}",
                     versus, "-" if share is None else f"{share:.0%}", str(s.get("wall_seconds") or "-"),
                     "-" if not s.get("bytes_per_round") else f"{s['bytes_per_round'] / 1e6:.2f}"])
    return rows


def rounds_png(result: dict) -> bytes | None:
    curves = {name: [(r["round"], r["validation"].get(_metric(result))) for r in rounds]
              for name, rounds in result["rounds"].items()}
    curves = {k: [(x, y) for x, y in v if y is not None] for k, v in curves.items()}
    if not any(curves.values()):
        return None
    figure, panels = new_figure(5.0, 3.2, 1)
    for name, points in curves.items():
        panels[0].plot([x for x, _ in points], [y for _, y in points], "o-", label=name)
    central = next((s for s in result["systems"] if s["system"] == "centralised"), None)
    if central and central.get("tuned") is not None:
        panels[0].axhline(central["tuned"], color="grey", linestyle="--", label="centralised (test)")
    panels[0].set_xlabel("round")
    panels[0].set_ylabel(f"validation {_metric(result)}")
    panels[0].legend(fontsize=8)
    return to_png(figure)


def _metric(result: dict) -> str:
    return next((s["metric"] for s in result["systems"] if s.get("metric")), "accuracy")


def partition_rows(result: dict) -> list[list[str]]:
    return [[str(c["client"]), str(c["rows"]), ", ".join(f"{k} {v}" for k, v in c["labels"].items()) or "-"]
            for c in result.get("partition") or []]


def render(result: dict) -> str:
    fed = result["federated"]
    title = (f"Federated fine-tuning: {fed['clients']} clients, {fed['rounds']} rounds, {fed['strategy']}, "
             f"partition {fed['partition']}")
    parts = [f"<h1>{esc(title)}</h1>",
             section("Every system on the same test split", table(COLUMNS, system_rows(result)),
                     note(f"each system makes {result['passes_per_row']:g} passes over its rows; intervals: "
                          "bootstrap over the test rows (the change against centralised is paired by row); MB per "
                          "round: adapter weights sent to and from the clients")),
             section("Validation per round", image(rounds_png(result), "validation metric after each round")),
             section("Partition", table(["client", "rows", "labels"], partition_rows(result)))]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>tunesmith federate</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def write_federated_report(folder: Path, result: dict) -> Path:
    write_atomic(folder / "federated.html", render(result))
    return folder / "federated.html"
