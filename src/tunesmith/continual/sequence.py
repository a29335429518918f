"""`tunesmith continual CONFIG`: train `continual.tasks` one after another, once per entry of
`continual.mitigations`, and score every task's test split after every stage.

Each stage is an ordinary run (`<folder>/<mitigation>/<n>-<task>`): stage 1 starts from `model.name`, every later
stage continues from the stage before (`model.from_run`), so lineage, rehearsal and the anchor work exactly as with
`train --from`. A mitigation switches its mechanism on for every stage and the others off: `replay` =
data.rehearsal.lineage (earlier tasks' rows, data.rehearsal.rows or .fraction), `anchor` = training.anchor_decay,
`general` = data.replay as configured; `none` = plain sequential training. A classifier's head gets every task's
labels from the first stage on, so all stages share one head.
"""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith.config import RunConfig
from tunesmith.continual.matrix import summarise
from tunesmith.data import prepare_splits
from tunesmith.errors import UserError
from tunesmith.evaluate.across import score_task
from tunesmith.evaluate.pair import pair_for_run
from tunesmith.objectives import get_objective
from tunesmith.runs import write_json
from tunesmith.training import train


def check(config: RunConfig) -> None:
    """Refuse a sequence that cannot run, before anything trains."""
    tasks, wanted = config.continual.tasks, {part for m in config.continual.mitigations for part in m.split("+")}
    if len(tasks) < 2:
        raise UserError(f"continual.tasks lists {len(tasks)} task(s); a sequence needs at least two",
                        hint="see examples/continual_intents.yaml")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise UserError(f"continual.tasks: task names repeat ({', '.join(names)})")
    for task in tasks:
        for field in ("train", "test", "validation"):
            path = getattr(task, field)
            if path and not Path(path).expanduser().exists():
                raise UserError(f"continual.tasks[{task.name}].{field}: {path} not found")
    if "anchor" in wanted and not config.training.anchor_decay:
        raise UserError("continual.mitigations asks for anchor, but training.anchor_decay is 0",
                        hint="set training.anchor_decay, e.g. 0.01")
    if "general" in wanted and not config.data.replay.source:
        raise UserError("continual.mitigations asks for general, but data.replay.source is not set",
                        hint="set data.replay.source (a file of general rows, or base)")


def task_data(data, task):
    """A DataConfig with the task's files in place of the run's."""
    return data.model_copy(update={"train": task.train, "validation": task.validation, "test": task.test})


def all_labels(config: RunConfig, schema: str) -> list[str] | None:
    """Every task's labels, in order of first appearance (classification only: one head for the whole sequence)."""
    if schema != "classification" or config.data.labels:
        return config.data.labels
    seen: dict[str, None] = {}
    for task in config.continual.tasks:
        labels = prepare_splits(task_data(config.data, task), schema)[0]["train"]["label"]
        seen.update(dict.fromkeys(sorted(set(labels))))
    return list(seen)


def stage_config(config: RunConfig, index: int, mitigation: str, folder: Path, previous: Path | None) -> RunConfig:
    task, parts = config.continual.tasks[index], set(mitigation.split("+"))
    stage = config.model_copy(deep=True)
    stage.continual.tasks = []
    stage.data = task_data(stage.data, task)
    stage.data.rehearsal.lineage = "replay" in parts
    stage.training.anchor_decay = config.training.anchor_decay if "anchor" in parts else 0.0
    stage.data.replay.source = config.data.replay.source if "general" in parts else None
    stage.model.from_run = str(previous) if previous else None
    stage.output.dir, stage.output.name = str(folder / mitigation), f"{index + 1}-{task.name}"
    return stage


def score_stage(run: Path, config: RunConfig, objective) -> list[dict]:
    """The stage's model on every task's test split (earlier, its own, and later ones: forward transfer)."""
    pair, run_config = pair_for_run(run)
    scores = []
    for task in config.continual.tasks:
        scores.append(score_task(pair, run_config, objective, task_data(run_config.data, task)))
    pair.release_base()
    return scores


def run_sequence(config: RunConfig, mitigation: str, folder: Path, console, log) -> dict:
    """One mitigation's pass over the tasks: its stage runs, the matrix, and the summary."""
    objective, names = get_objective(config.objective.name), [t.name for t in config.continual.tasks]
    matrix, base, runs, seconds, previous = [], None, [], 0.0, None
    for index, name in enumerate(names):
        log(f"[{mitigation}] stage {index + 1}/{len(names)}: {name}")
        started = time.perf_counter()
        previous = train(stage_config(config, index, mitigation, folder, previous), console)
        seconds += time.perf_counter() - started
        row = score_stage(previous, config, objective)
        if any(cell is None for cell in row):
            raise UserError(f"stage {name}: a task has no test rows to score", hint="give every task a test file")
        base = base or row  # stage 1's pair: its base is the untouched starting model
        matrix.append(row)
        runs.append(str(previous))
        log(f"[{mitigation}] after {name}: " + ", ".join(f"{n} {c['tuned']:.3g}" for n, c in zip(names, row)))
    return {"mitigation": mitigation, "runs": runs, "seconds": round(seconds, 1), "matrix": matrix,
            "base": base, "summary": summarise(matrix, base, names)}


def run_continual(config: RunConfig, console) -> Path:
    """Every mitigation's sequence, then continual.json and continual.html in one folder."""
    from tunesmith.continual.report import write_continual_report

    log = lambda line: console.print(line, highlight=False, markup=False)  # noqa: E731
    check(config)
    config = config.model_copy(deep=True)
    config.data.labels = all_labels(config, get_objective(config.objective.name).schema)
    folder = Path(config.output.dir) / (config.output.name or f"continual-{time.strftime('%Y%m%d-%H%M%S')}")
    if folder.exists():
        raise UserError(f"{folder} already exists; tunesmith never overwrites a run", hint="pick another output.name")
    folder.mkdir(parents=True)
    result = {"tasks": [t.model_dump() for t in config.continual.tasks], "sequences": {}}
    for mitigation in config.continual.mitigations:
        result["sequences"][mitigation] = run_sequence(config, mitigation, folder, console, log)
        write_json(folder / "continual.json", result)  # a killed comparison keeps the sequences that finished
    log(f"report: {write_continual_report(folder, result)}")
    return folder
