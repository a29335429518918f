"""`tunesmith data inspect`: counts, format, token lengths, labels, duplicates and PII of one data source."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tunesmith.config import DataConfig
from tunesmith.data.formats import SCHEMAS, detect_format
from tunesmith.data.load import iter_records
from tunesmith.data.pipeline import prepare_splits
from tunesmith.data.tokenize import show_tokens, tokenize_chat
from tunesmith.errors import UserError

PERCENTILES = (50, 90, 95, 99)


def schema_for(spec: str, columns: dict | None = None) -> str:
    """The schema a source's first record maps to most naturally."""
    first = next(iter_records(spec, columns=columns), None)
    if first is None:
        raise UserError(f"{spec}: the dataset is empty (no examples)")
    kind = detect_format(first.fields)
    for schema in ("chat", "preference", "classification", "text"):
        if kind in SCHEMAS[schema]:
            return schema
    raise UserError(f"{first.source}: no known format (found: {', '.join(sorted(first.fields)) or 'none'})",
                    hint="data.columns renames fields")


def token_lengths(ds, schema: str, tokenizer) -> list[int]:
    if schema == "chat":
        return [len(tokenize_chat(tokenizer, row["messages"])["input_ids"]) for row in ds]
    if schema == "preference":
        return [len(tokenizer(" ".join(m["content"] for m in row["prompt"]) + row["chosen"])["input_ids"])
                for row in ds]
    texts = list(ds["text"])
    if "text_pair" in ds.column_names and None not in ds["text_pair"]:  # a sentence pair is read as one input
        return [len(ids) for ids in tokenizer(texts, list(ds["text_pair"]), add_special_tokens=False)["input_ids"]]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def length_stats(lengths: list[int], max_length: int) -> dict:
    ordered = sorted(lengths)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]  # noqa: E731
    over = [n for n in lengths if n > max_length]
    return {"count": len(lengths), "mean": round(sum(lengths) / max(len(lengths), 1), 1), "min": ordered[0],
            **{f"p{q}": pick(q) for q in PERCENTILES}, "max": ordered[-1], "max_length": max_length,
            "over_max_length": len(over), "tokens_lost_to_truncation": sum(n - max_length for n in over)}


def plot_histogram(lengths: list[int], max_length: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    ax.hist(lengths, bins=min(60, max(10, len(set(lengths)))), color="#4477aa")
    if max_length <= 2 * max(lengths):  # far to the right it would squash the histogram into one bar
        ax.axvline(max_length, color="#cc3311", linestyle="--", label=f"max_length {max_length}")
        ax.legend()
    else:
        title += f" (all under max_length {max_length})"
    ax.set(xlabel="tokens per example", ylabel="examples", title=title)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def inspect(spec: str, tokenizer, out: Path, cfg: DataConfig | None = None) -> dict:
    """Run the data stage on one source (no split) and describe it; writes data_report.json and the histogram."""
    cfg = (cfg or DataConfig()).model_copy(update={"train": spec, "validation": None, "test": None,
                                                   "validation_size": 0.0, "test_size": 0.0})
    schema = schema_for(spec, cfg.columns)
    splits, pipeline_report = prepare_splits(cfg, schema)
    ds = splits["train"]
    lengths = token_lengths(ds, schema, tokenizer)
    report = {"source": spec, "schema": schema, **pipeline_report["sources"]["train"],
              "tokens": length_stats(lengths, cfg.max_length), "warnings": pipeline_report.get("warnings", [])}
    if schema == "classification":
        report["labels"] = pipeline_report["labels"]["train"]
    out.mkdir(parents=True, exist_ok=True)
    plot_histogram(lengths, cfg.max_length, out / "token_lengths.png", f"{Path(spec).name}: tokens per example")
    tmp = out / ".data_report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out / "data_report.json")
    return report


def print_loss_tokens(console, source: str, tokenizer, cfg, count: int) -> None:
    """`data inspect --show-tokens`: the first `count` chat examples token by token, loss-bearing ones marked."""
    from rich.text import Text

    splits, _ = prepare_splits(cfg.model_copy(update={"train": source, "validation_size": 0.0}), "chat")
    for row in splits["train"].select(range(min(count, len(splits["train"])))):
        line = Text(f"{row['_source']}: ")
        for token, carries_loss in show_tokens(tokenizer, tokenize_chat(tokenizer, row["messages"])):
            line.append(token, style="bold green underline" if carries_loss else "dim")
        console.print(line)
    console.print("green underlined tokens carry loss; dim ones are context only")
