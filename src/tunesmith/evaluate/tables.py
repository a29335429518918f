"""How a base-vs-fine-tuned metric row is written, the same in the terminal, report.html and compare pages."""

from __future__ import annotations


def fmt(value, scale: str = "value") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if scale == "fraction" else f"{value:.4g}"
    return str(value)


def fmt_delta(value: float, scale: str) -> str:
    return f"{100 * value:+.1f} points" if scale == "fraction" else f"{value:+.4g}"


def judge(row: dict) -> str:
    """better / worse / no clear difference: whether the 95% interval of the difference excludes zero."""
    low, high = row["delta_ci95"]
    up = row.get("higher_is_better", True)
    if up is None:
        return "longer" if low > 0 else "shorter" if high < 0 else "no clear difference"
    if (low > 0 and up) or (high < 0 and not up):
        return "better"
    if (high < 0 and up) or (low > 0 and not up):
        return "worse"
    return "no clear difference"


METRIC_COLUMNS = ["metric", "base", "fine-tuned", "difference [95% CI]", "verdict"]


def metric_rows(metrics: dict) -> list[list[str]]:
    """The base-vs-fine-tuned table's rows, as the terminal and the report show them."""
    rows = []
    for name, row in metrics.items():
        scale, (low, high) = row.get("scale", "fraction"), row["delta_ci95"]
        rows.append([name, fmt(row["base"], scale), fmt(row["tuned"], scale),
                     f"{fmt_delta(row['delta'], scale)} [{fmt_delta(low, scale)}, {fmt_delta(high, scale)}]",
                     judge(row)])
    return rows
