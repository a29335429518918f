"""k-fold cross-validation for small datasets: the run's training data is cut into k folds; each fold is held out
once while a copy of the run's config trains on the others. Reports each metric's mean and spread over folds.

Folds are ordinary run directories under RUN/cv/ (fold-1 ... fold-k), so a fold that finished is reused when an
interrupted cross-validation is started again.
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

from tunesmith.data import prepare_splits
from tunesmith.errors import UserError
from tunesmith.evaluate.report import write_report
from tunesmith.objectives import get_objective
from tunesmith.runs import open_run, read_json, write_atomic, write_json
from tunesmith.training import train


def fold_indices(count: int, k: int, labels: list | None = None, seed: int = 42) -> list[list[int]]:
    """k disjoint test folds that together cover every index; with labels, each fold gets its share of each."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    if labels is not None:
        order.sort(key=lambda i: str(labels[i]))  # stable: the shuffle survives within each label
    folds: list[list[int]] = [[] for _ in range(k)]
    for position, index in enumerate(order):
        folds[position % k].append(index)
    return [sorted(fold) for fold in folds]


def _portable(row: dict, schema: str) -> dict:
    """A prepared row as a JSONL record the loaders read back unchanged (weights only where they matter)."""
    strip = lambda messages: [{"role": m["role"], "content": m["content"],  # noqa: E731
                               **({"weight": 0} if m.get("weight") == 0 else {})} for m in messages]
    if schema == "chat":
        return {"messages": strip(row["messages"])}
    if schema == "preference":
        return {"prompt": strip(row["prompt"]), "chosen": row["chosen"], "rejected": row["rejected"]}
    if schema == "classification":
        pair = {"text_pair": row["text_pair"]} if row.get("text_pair") is not None else {}
        return {"text": row["text"], **pair, "label": row["label"]}
    return {"text": row["text"]}


def training_records(config, schema: str) -> list[dict]:
    """Every cleaned training row, before the run's own validation/test split."""
    pooled = config.data.model_copy(update={"validation": None, "test": None, "validation_size": 0.0,
                                            "test_size": 0.0})
    splits, _ = prepare_splits(pooled, schema)
    return [_portable(row, schema) for row in splits["train"]]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    write_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))


def fold_config(config, folder: Path, index: int):
    fold = config.model_copy(deep=True)
    fold.data.train = str(folder / f"fold-{index}.train.jsonl")
    fold.data.test = str(folder / f"fold-{index}.test.jsonl")
    fold.data.validation, fold.data.test_size, fold.data.columns = None, 0.0, {}
    fold.output.dir, fold.output.name = str(folder), f"fold-{index}"
    # Per-fold forgetting and bias would multiply the cost by k and answer a different question.
    fold.eval.forgetting = fold.eval.bias = False
    fold.eval.compare_with_base = True
    return fold


def _train_fold(config, folder: Path, index: int, console) -> Path:
    run = folder / f"fold-{index}"
    status = read_json(run / "manifest.json").get("status")
    if status == "finished":
        console.print(f"fold {index}: finished earlier, reused ({run})")
        return run
    if run.exists():
        raise UserError(f"{run} exists but did not finish (status {status})",
                        hint=f"delete {run} and run the cross-validation again")
    console.print(f"fold {index}: training")
    return train(config, console)


def fold_scores(run: Path) -> dict[str, dict[str, float]]:
    """{metric: {tuned, delta}} of one finished fold, plus the trainer's test loss where the objective has one
    (its other test metrics repeat the comparison's)."""
    evaluation = read_json(run / "eval.json")
    scores = {name: {"tuned": row["tuned"], "delta": row["delta"]}
              for name, row in (evaluation.get("metrics") or {}).items()}
    if isinstance((evaluation.get("test") or {}).get("test_loss"), (int, float)):
        scores["test_loss"] = {"tuned": evaluation["test"]["test_loss"]}
    return scores


def summarize_folds(per_fold: list[dict]) -> dict:
    names = [n for n in per_fold[0] if all(n in fold for fold in per_fold)]
    spread = lambda values: statistics.stdev(values) if len(values) > 1 else 0.0  # noqa: E731
    metrics = {}
    for name in names:
        values = [fold[name]["tuned"] for fold in per_fold]
        metrics[name] = {"values": values, "mean": statistics.fmean(values), "std": spread(values)}
        deltas = [fold[name].get("delta") for fold in per_fold]
        if None not in deltas:
            metrics[name].update(delta_mean=statistics.fmean(deltas), delta_std=spread(deltas))
    return metrics


def cross_validate(run: Path, k: int, console) -> dict:
    """`tunesmith eval RUN --cv K`: train k fold runs under RUN/cv/, write RUN/cv.json and refresh the report."""
    config, _ = open_run(run)
    schema = get_objective(config.objective.name).schema
    rows = training_records(config, schema)
    if k < 2 or len(rows) < 2 * k:
        raise UserError(f"--cv {k}: {len(rows)} training examples cannot make {k} folds of at least two",
                        hint="use --cv between 2 and half the number of examples")
    folder = run / "cv"
    folder.mkdir(exist_ok=True)
    labels = [r["label"] for r in rows] if schema == "classification" else None
    folds = fold_indices(len(rows), k, labels, config.data.seed)
    runs = []
    for index, held_out in enumerate(folds, start=1):
        kept = set(held_out)
        _write_jsonl(folder / f"fold-{index}.test.jsonl", [rows[i] for i in held_out])
        _write_jsonl(folder / f"fold-{index}.train.jsonl", [r for i, r in enumerate(rows) if i not in kept])
        runs.append(_train_fold(fold_config(config, folder, index), folder, index, console))
    per_fold = [fold_scores(r) for r in runs]
    result = {"folds": k, "examples": len(rows), "fold_sizes": [len(f) for f in folds],
              "runs": [str(r) for r in runs], "per_fold": per_fold, "metrics": summarize_folds(per_fold)}
    write_json(run / "cv.json", result)
    write_report(run)
    return result


def cv_lines(result: dict) -> list[str]:
    """One line per metric: mean and spread over the folds, and the gain over the base where recorded."""
    lines = []
    for name, stats in result["metrics"].items():
        gain = f"; fine-tuned minus base {stats['delta_mean']:+.4g} (std {stats['delta_std']:.4g})" \
            if "delta_mean" in stats else ""
        lines.append(f"{name}: mean {stats['mean']:.4g}, std {stats['std']:.4g} over {result['folds']} folds{gain}")
    return lines
