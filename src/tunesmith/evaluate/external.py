"""`tunesmith eval` on weights that are not a tunesmith run: a PEFT adapter folder (its base is the model it names,
or `--base`), or a whole model (folder, bundled alias, .gguf, Hub id) compared with the base you name.

The answer is written as an evaluation run directory (config.yaml, manifest.json with status "evaluated",
eval.json, summary.json, report.json/html), so the report, `tunesmith compare`, `tunesmith runs` and the studio read
it like any run. The evaluation file is prepared by the same data stage as training data (validated, cleaned,
deduplicated) and scored whole: it is the test split.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.config import RunConfig
from tunesmith.errors import UserError
from tunesmith.evaluate.pair import ModelPair, base_loader
from tunesmith.evaluate.report import write_report
from tunesmith.evaluate.stage import evaluate_model, summary_fields, with_eval_options
from tunesmith.hardware import detect
from tunesmith.models import ModelSource, load_tokenizer, resolve_model
from tunesmith.models.saved import SavedModel, load_weights
from tunesmith.objectives import get_objective
from tunesmith.objectives.lengths import decide_lengths
from tunesmith.runs import create_run, update_manifest, write_json


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() and (path / "manifest.json").is_file()


def adapter_base(target: Path) -> str | None:
    """The base model a PEFT adapter folder names, or None when `target` is not an adapter folder."""
    config = target / "adapter_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("base_model_name_or_path")


def evaluation_config(config: RunConfig, base: str, data_file: str | None) -> RunConfig:
    """The config with the base as model.name and the evaluation file as the only data."""
    test = data_file or config.data.test
    if not test:
        raise UserError("nothing to evaluate on: no --data FILE and no data.test in the config",
                        hint="tunesmith eval MODEL --base BASE --data test.jsonl [--config run.yaml]")
    config = config.model_copy(deep=True)
    config.model.name = base
    data = config.data
    data.train, data.validation, data.test = test, None, None
    data.validation_size, data.test_size, data.replay.source = 0.0, 0.0, None
    return config


def labels_of(model_path: str) -> list[str] | None:
    """A classifier folder's label names in id order, when it names them (not transformers' LABEL_0 defaults)."""
    from transformers import AutoConfig

    try:
        id2label = AutoConfig.from_pretrained(model_path).id2label
    except (OSError, ValueError):
        return None
    names = [id2label[i] for i in sorted(id2label)]
    return None if all(name == f"LABEL_{i}" for i, name in enumerate(names)) else names


def _tokenizer_source(target: Path, base_source):
    has_own = any((target / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
    return ModelSource(str(target), str(target), "local") if has_own else base_source


def _as_test(data):
    """The prepared evaluation file, which the data stage returned as its training split, as the test split."""
    for part in (data.splits, data.tokenized, data.report):
        if "train" in part:
            part["test"] = part.pop("train")
    return data


def load_external(target: str, base: str | None, config: RunConfig, data_file: str | None):
    """(pair, evaluation config, prepared data, what was evaluated) for an adapter folder or a model."""
    objective = get_objective(config.objective.name)
    kind, path = objective.model_kind, Path(target).expanduser()
    named_base = adapter_base(path)
    is_adapter = named_base is not None
    base = base or named_base
    if base is None:
        raise UserError(f"{target}: which model did it start from? The comparison needs the untouched base",
                        hint="add --base MODEL (a bundled alias, local folder or Hub id)")
    config = evaluation_config(config, base, data_file)
    if kind == "seq_cls" and not config.data.labels and not is_adapter:
        config.data.labels = labels_of(str(path))  # label ids must mean what they meant in training
    hardware = detect(config.model.dtype, config.model.device, config.training.threads)
    base_source = resolve_model(base)
    tokenizer = load_tokenizer(_tokenizer_source(path, base_source) if path.is_dir() else resolve_model(target))
    config, _ = decide_lengths(config, objective, base_source, tokenizer)
    data = _as_test(objective.prepare_data(config, tokenizer))
    kwargs = objective.head_kwargs(data)
    weights = str(path) if is_adapter else resolve_model(target).path
    saved = SavedModel("adapter" if is_adapter else "full", weights, kind, tokenizer.name_or_path, objective.serving,
                       base, kwargs, tokenizer.pad_token_id if kind == "seq_cls" else None, objective.name)
    tuned, _ = load_weights(saved, hardware.dtype, hardware.device)
    loader = None if is_adapter else base_loader(saved, hardware.dtype, config.training.seed)
    pair = ModelPair(tuned, tokenizer, loader)
    described = {"target": target, "kind": "adapter" if is_adapter else "model", "base": base,
                 "hardware": hardware.describe()}
    return pair, config, data, described


def evaluate_external(target: str, base: str | None, config: RunConfig, data_file: str | None, console,
                      max_examples: int | None = None, forgetting: bool = True, bias: bool = True,
                      lm_eval: list[str] | None = None):
    """Evaluate `target` against its base; returns (the evaluation run directory, its eval.json contents)."""
    import time

    log = lambda line: console.print(line, highlight=False, markup=False)  # noqa: E731
    pair, config, data, described = load_external(target, base, with_eval_options(config, max_examples, forgetting, bias, lm_eval),
                                                  data_file)
    if not config.output.name:
        config.output.name = f"eval-{Path(target).name or 'model'}-{time.strftime('%Y%m%d-%H%M%S')}"
    run = create_run(config, status="evaluating")
    update_manifest(run, evaluated=described, hardware=described["hardware"],
                    data_report={**data.data_report, "tokens": data.report})
    log(f"evaluating {described['kind']} {target} against its base {described['base']}")
    try:
        evaluation = evaluate_model(pair, config, get_objective(config.objective.name), data, "test", log)
    except BaseException as exc:
        update_manifest(run, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    write_json(run / "eval.json", evaluation)
    write_json(run / "summary.json", {"status": "evaluated", **summary_fields(evaluation)})
    update_manifest(run, status="evaluated")
    write_report(run)
    return run, evaluation
