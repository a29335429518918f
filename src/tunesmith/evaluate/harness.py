"""Optional: the same lm-evaluation-harness tasks scored for the base and the fine-tuned model.

lm-eval is not a dependency (`pip install lm-eval`, or the `lmeval` extra). Offline, a task's data must be local:
a task entry may be a task YAML file, or a folder of them, whose `dataset_path`/`dataset_kwargs` name local files
(for example `dataset_path: json` with `data_files`); its folder is added to lm-eval's task search path and the
YAML's `task:` name is used. Both models run in this process, so nothing is loaded twice: a PEFT model's base is
the same object with its adapter switched off.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import UserError


def resolve_tasks(entries: list[str]) -> tuple[list[str], list[str]]:
    """(task names, folders to search) from names and task YAML files/folders."""
    import yaml

    names, include = [], []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            include.append(str(path.resolve()))
            names += [yaml.safe_load(p.read_text()).get("task") for p in sorted(path.glob("*.yaml"))]
        elif path.suffix in (".yaml", ".yml"):
            if not path.is_file():
                raise UserError(f"eval.lm_eval_tasks: {entry} not found")
            include.append(str(path.parent.resolve()))
            names.append((yaml.safe_load(path.read_text()) or {}).get("task"))
        else:
            names.append(entry)
    if None in names:
        raise UserError("eval.lm_eval_tasks: a task YAML has no `task:` name")
    return names, sorted(set(include))


def _harness():
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise UserError("eval.lm_eval_tasks needs lm-evaluation-harness, which is not installed",
                        hint="pip install lm-eval (or install tunesmith with the lmeval extra)") from None
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    return simple_evaluate, HFLM, TaskManager


def _numbers(results: dict) -> dict[str, tuple[float, float | None]]:
    """{task/metric: (value, stderr)} from lm-eval's results; filters ("none") dropped from the names."""
    out = {}
    for task, metrics in results.items():
        for key, value in metrics.items():
            if "_stderr" in key or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            stderr = metrics.get(key.replace(",", "_stderr,", 1))
            out[f"{task}/{key.split(',')[0]}"] = (float(value), stderr if isinstance(stderr, (int, float)) else None)
    return out


def run_harness(pair, entries: list[str], limit: int | None, batch_size: int, seed: int) -> dict:
    """{"tasks", "limit", "metrics": {task/metric: base, tuned, delta, stderr_base, stderr_tuned}, "version"}."""
    import lm_eval

    simple_evaluate, HFLM, TaskManager = _harness()
    names, include = resolve_tasks(entries)
    manager = TaskManager(include_path=include or None)
    unknown = [name for name in names if name not in manager.all_tasks]
    if unknown:
        raise UserError(f"lm-eval does not know the task(s) {', '.join(unknown)}",
                        hint="give a task YAML file or folder whose data is on this machine")

    def score(model) -> dict:
        lm = HFLM(pretrained=model, tokenizer=pair.tokenizer, batch_size=batch_size)
        out = simple_evaluate(model=lm, tasks=names, task_manager=manager, limit=limit, log_samples=False,
                              bootstrap_iters=1000,
                              random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                              fewshot_random_seed=seed)
        return _numbers(out["results"])

    with pair.base() as base:
        base_numbers = score(base)
    tuned_numbers = score(pair.tuned)
    metrics = {name: {"base": value, "tuned": tuned_numbers[name][0], "delta": tuned_numbers[name][0] - value,
                      "stderr_base": stderr, "stderr_tuned": tuned_numbers[name][1]}
               for name, (value, stderr) in base_numbers.items() if name in tuned_numbers}
    return {"tasks": names, "limit": limit, "metrics": metrics, "version": lm_eval.__version__}
