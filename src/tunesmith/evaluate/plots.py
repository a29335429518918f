"""PNG plots for the evaluation report and `tunesmith compare` (matplotlib, Agg backend, no pyplot state)."""

from __future__ import annotations

import io

BASE, TUNED = "#9aa5b1", "#1f77b4"


def new_figure(width: float, height: float, columns: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, list(axes)


def to_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _series(rows: list[dict], key: str) -> tuple[list, list]:
    points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    return [p[0] for p in points], [p[1] for p in points]


def training_png(history: list[dict]) -> bytes | None:
    """Loss (training and validation), learning rate and throughput against the optimizer step."""
    if not any("loss" in r or "eval_loss" in r for r in history):
        return None
    figure, (loss, rate, speed) = new_figure(11, 3.2, 3)
    loss.plot(*_series(history, "loss"), label="training", color=TUNED)
    steps, values = _series(history, "eval_loss")
    loss.plot(steps, values, "o-", label="validation", color="#d62728")
    loss.set(title="loss", xlabel="step")
    loss.legend(fontsize="small")
    rate.plot(*_series(history, "learning_rate"), color="#2ca02c")
    rate.set(title="learning rate", xlabel="step")
    rate.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    speed.plot(*_series(history, "tokens_per_second"), color="#ff7f0e")
    speed.set(title="throughput (tokens/s)", xlabel="step")
    return to_png(figure)


def metrics_png(metrics: dict) -> bytes | None:
    """One small panel per metric: base vs fine-tuned, the fine-tuned bar with the difference's 95% interval."""
    if not metrics:
        return None
    figure, panels = new_figure(min(3.2 * len(metrics), 13), 3, len(metrics))
    for axes, (name, row) in zip(panels, metrics.items()):
        low, high = row["delta_ci95"]
        error = [[max(row["delta"] - low, 0)], [max(high - row["delta"], 0)]]
        axes.bar(["base", "fine-tuned"], [row["base"], row["tuned"]], color=[BASE, TUNED])
        axes.errorbar([1], [row["tuned"]], yerr=error, color="black", capsize=4)
        axes.set_title(name + ("" if row.get("higher_is_better", True) else " (lower is better)"), fontsize="medium")
        if row.get("scale", "fraction") == "fraction":
            axes.set_ylim(0, 1.05)
    return to_png(figure)


def confusion_png(reports: dict) -> bytes | None:
    """Confusion matrices (rows: true label, columns: predicted) for the base and the fine-tuned classifier."""
    if not reports:
        return None
    figure, panels = new_figure(4.2 * len(reports), 3.8, len(reports))
    for axes, (side, report) in zip(panels, reports.items()):
        matrix, labels = report["confusion_matrix"], report["labels"]
        axes.imshow(matrix, cmap="Blues")
        axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize="small")
        axes.set_yticks(range(len(labels)), labels, fontsize="small")
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axes.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
        axes.set(title=f"{side} (accuracy {report['accuracy']:.1%})", xlabel="predicted", ylabel="true")
    return to_png(figure)


def forgetting_png(per_prompt: list[dict]) -> bytes | None:
    """KL per token for each general prompt, largest first."""
    if not per_prompt:
        return None
    values = sorted((p["kl_per_token"] for p in per_prompt), reverse=True)
    figure, (axes,) = new_figure(8, 2.8)
    axes.bar(range(len(values)), values, color=TUNED)
    axes.set(title="drift per general prompt", xlabel="prompt (sorted)", ylabel="KL(base || tuned), nats/token")
    return to_png(figure)


def bias_png(categories: dict) -> bytes | None:
    """Flip rate per category, base vs fine-tuned."""
    if not categories:
        return None
    names = list(categories)
    figure, (axes,) = new_figure(max(4, 1.3 * len(names) + 2), 3)
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], [categories[n]["flip_rate_base"] for n in names], 0.4, label="base",
             color=BASE)
    axes.bar([p + 0.2 for p in positions], [categories[n]["flip_rate_tuned"] for n in names], 0.4,
             label="fine-tuned", color=TUNED)
    axes.set_xticks(list(positions), names)
    axes.set(ylabel="answer changed", ylim=(0, 1.05), title="counterfactual flip rate")
    axes.legend(fontsize="small")
    return to_png(figure)


def runs_png(histories: dict[str, list[dict]]) -> bytes | None:
    """`tunesmith compare`: every run's training and validation loss on one pair of axes."""
    if not histories:
        return None
    figure, (train, validation) = new_figure(11, 3.4, 2)
    for name, history in histories.items():
        train.plot(*_series(history, "loss"), label=name)
        validation.plot(*_series(history, "eval_loss"), "o-", label=name)
    train.set(title="training loss", xlabel="step")
    validation.set(title="validation loss", xlabel="step")
    train.legend(fontsize="small")
    return to_png(figure)


def runs_metrics_png(values: dict[str, dict[str, float]], title: str) -> bytes | None:
    """`tunesmith compare`: one bar per run for each metric; values = {metric: {run: value}}."""
    values = {m: v for m, v in values.items() if v}
    if not values:
        return None
    figure, panels = new_figure(min(3.6 * len(values), 13), 3.2, len(values))
    for axes, (metric, by_run) in zip(panels, values.items()):
        axes.bar(range(len(by_run)), list(by_run.values()), color=TUNED)
        axes.set_xticks(range(len(by_run)), list(by_run), rotation=30, ha="right", fontsize="small")
        axes.set_title(f"{metric} ({title})", fontsize="medium")
    return to_png(figure)
