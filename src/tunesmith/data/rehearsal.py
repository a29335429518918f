"""Rehearsal: rows of earlier tasks mixed into a continual run's training split (`data.rehearsal`).

Each earlier run's training split is prepared again with that run's own data settings (usually a cache hit), so
the rows rehearsed are rows it trained on, never its validation or test rows. A seeded sample of them (a buffer of
`rows` shared evenly between the earlier runs, or `fraction` per new training row) joins this run's training split;
a row that repeats one of this run's validation or test rows is left out. Rows of every objective's schema work
the same way, since the sample is taken before tokenization.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.dedup import dedup_text, exact_key
from tunesmith.data.split import seeded_sample
from tunesmith.errors import UserError
from tunesmith.runs import open_run


def earlier_data(run: str, cfg):
    """The DataConfig an earlier run trained with, its own rehearsal and replay switched off."""
    path = Path(run)
    if not (path / "config.yaml").is_file():
        raise UserError(f"data.rehearsal.runs: {run} is not a run directory", hint="name runs that tunesmith made")
    data = own_rows_only(open_run(path)[0].data)
    data.labels = None  # its rows keep their own labels; this run's objective maps them
    return data


def own_rows_only(data):
    """A copy of a DataConfig that mixes nothing in: no rehearsal of earlier runs, no general replay."""
    data = data.model_copy(deep=True)
    data.rehearsal.runs, data.rehearsal.lineage, data.replay.source = [], False, None
    return data


def shares(cfg, train_rows: int) -> list[int]:
    """Rows wanted from each earlier run: `rows` in all, or `fraction` per training row, split evenly."""
    runs = len(cfg.rehearsal.runs)
    total = cfg.rehearsal.rows or max(1, round(cfg.rehearsal.fraction * train_rows))
    return [total // runs + (i < total % runs) for i in range(runs)]


def rehearse(splits, cfg, schema: str, prepare) -> tuple[object, dict]:
    """(training split with earlier rows appended, report); `prepare(cfg, schema)` prepares a run's own splits."""
    from datasets import concatenate_datasets

    held_out = {exact_key(dedup_text(row)) for name in ("validation", "test") if name in splits
                for row in splits[name]}
    train, parts, report = splits["train"], [], []
    for run, wanted in zip(cfg.rehearsal.runs, shares(cfg, len(splits["train"]))):
        earlier = prepare(earlier_data(run, cfg), schema)[0]["train"]
        usable = [i for i, row in enumerate(earlier) if exact_key(dedup_text(row)) not in held_out]
        chosen = seeded_sample(usable, min(wanted, len(usable)), cfg.seed)
        parts.append(earlier.select(chosen).cast(train.features))
        report.append({"run": str(run), "available": len(usable), "requested": wanted, "rows": len(chosen)})
    return concatenate_datasets([train, *parts]), {"runs": report, "rows": sum(r["rows"] for r in report)}
