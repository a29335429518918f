"""The evaluation stage: task metrics base vs fine-tuned, forgetting and bias, written into the run directory.

`evaluate_trained` runs at the end of every `tunesmith train` on the model still in memory; `evaluate_run` is
`tunesmith eval RUN`, which loads the run's weights and prepares its data again (from the data cache).
"""

from __future__ import annotations

import time
from pathlib import Path

from tunesmith.errors import UserError
from tunesmith.evaluate import preference, tasks
from tunesmith.evaluate.bias import (
    compare_bias,
    load_swaps,
    probe_classifier,
    probe_generator,
)
from tunesmith.evaluate.forgetting import measure_forgetting, read_prompts
from tunesmith.evaluate.harness import run_harness
from tunesmith.evaluate.pair import (
    ModelPair,
    base_loader,
    dtype_name,
    is_peft,
    pair_for_run,
)
from tunesmith.evaluate.report import write_report
from tunesmith.evaluate.scoring import class_probabilities
from tunesmith.evaluate.tasks import limited, reply_function, subset_metrics
from tunesmith.metrics import METRICS
from tunesmith.objectives import get_objective
from tunesmith.runs import read_json, write_json


def _forgetting(pair, config, log) -> tuple[dict, dict]:
    e = config.eval
    result = measure_forgetting(pair, read_prompts(e.general_prompts), e.forgetting_max_new_tokens, e.batch_size)
    s = result["summary"]
    log(f"forgetting: {s['verdict']} (KL {s['kl_per_token']:.4f} nats/token over {s['prompts']} general prompts, "
        f"base answers {s['perplexity_ratio']:.2f}x as perplexing, next token changed at {s['top1_changed']:.0%})")
    return s, {"per_prompt": result["per_prompt"], "examples": result["examples"]}


def _probe(model, pair, config, model_kind: str, outputs, originals: list, labels) -> dict:
    """The bias probe for one model, reusing its answers to the unswapped inputs."""
    e, swaps = config.eval, load_swaps(config.eval.bias_terms)
    if outputs.kind == "classification":
        predict = lambda texts: class_probabilities(model, pair.tokenizer, texts, e.batch_size)  # noqa: E731
        return probe_classifier(predict, outputs.inputs, originals, swaps, e.bias_max_examples, labels)
    reply = reply_function(model_kind, pair.tokenizer, config)
    metric = METRICS[e.metrics[0] if e.metrics else "exact_match"]
    return probe_generator(lambda conversations: reply(model, conversations), outputs.inputs, outputs.references,
                           originals, swaps, metric, e.bias_max_examples)


def _bias(pair, config, model_kind: str, outputs, labels, log) -> tuple[dict, dict]:
    with pair.base() as base:
        base_result = _probe(base, pair, config, model_kind, outputs, outputs.base, labels)
    tuned_result = _probe(pair.tuned, pair, config, model_kind, outputs, outputs.tuned, labels)
    report = compare_bias(base_result, tuned_result)
    s = report["summary"]
    log(f"bias probe: {s['verdict']} ({s['pairs']} counterfactual inputs; answer changed for "
        f"{s['flip_rate_tuned']:.0%} fine-tuned vs {s['flip_rate_base']:.0%} base)")
    return s, {"categories": report["categories"]}


def _lm_eval(pair, config, objective, log) -> dict:
    if objective.model_kind != "causal_lm":
        raise UserError(f"eval.lm_eval_tasks: lm-eval scores language models, not a {objective.model_kind} model")
    started = time.perf_counter()
    result = run_harness(pair, config.eval.lm_eval_tasks, config.eval.lm_eval_limit, config.eval.batch_size,
                         config.training.seed)
    for name, row in result["metrics"].items():
        log(f"lm-eval {name}: base {row['base']:.4g} -> fine-tuned {row['tuned']:.4g} ({row['delta']:+.4g})")
    return {**result, "seconds": round(time.perf_counter() - started, 2)}


def _forgetting_skipped(config, objective) -> str | None:
    """Why the forgetting check does not run, or None when it does."""
    if not config.eval.forgetting:
        return "switched off (eval.forgetting)"
    if objective.model_kind != "causal_lm":
        return f"not applicable: a {objective.model_kind} model has no next-token distribution over general text"
    return None


def _bias_skipped(config, outputs) -> str | None:
    if not config.eval.bias:
        return "switched off (eval.bias)"
    if outputs is None:
        return "no test examples to rewrite"
    if outputs.kind not in ("classification", "generation"):
        return f"not applicable to {outputs.kind.replace('_', ' ')} (it probes classification and generation)"
    return None


# Objective.evaluation names one of these, or is a function with the same signature.
TASKS = {"generation": tasks.generation, "classification": tasks.classification,
         "language_modeling": tasks.language_modeling, "preference": preference.preference}


def evaluate_task(pair, config, objective, data, split: str):
    """Base vs fine-tuned on `split` as the objective says it is evaluated; (None, None) when the split is empty."""
    if not data.splits.get(split):
        return None, None
    task = objective.evaluation if callable(objective.evaluation) else TASKS[objective.evaluation]
    return task(pair, config, objective, data, split)


def example_source(example) -> str | None:
    """The "file:line" an evaluated example came from (chat examples and dataset rows keep it differently)."""
    return getattr(example, "source", None) or (example.get("_source") if isinstance(example, dict) else None)


def leak_free(config, data, split: str, outputs, log) -> dict | None:
    """A test file scored as given, again without its flagged rows (duplicates, repeats of training data): the
    subset beside the full result, so a number can be compared with other tools' and checked for leakage."""
    flagged = ((getattr(data, "data_report", None) or {}).get("flagged") or {}).get(split)
    if not flagged or outputs is None:
        return None
    reasons = {source: why for why, sources in flagged.items() for source in sources}
    sources = [example_source(x) for x in limited(config, data, split)]
    keep = [i for i, source in enumerate(sources) if source not in reasons]
    counts = {why: sum(reasons.get(s) == why for s in sources) for why in flagged}
    if len(keep) == len(sources) or not keep:
        return {"examples": len(keep), "flagged": counts, "metrics": None}
    metrics = subset_metrics(outputs, keep, config, data.labels)
    if metrics:
        log(f"leak-free subset: {len(keep)} of {len(sources)} {split} rows ("
            + ", ".join(f"{n} {why}" for why, n in counts.items() if n) + " flagged): "
            + "; ".join(f"{name} {row['base']:.4g} -> {row['tuned']:.4g}" for name, row in metrics.items()))
    return {"examples": len(keep), "flagged": counts, "metrics": metrics}


def evaluate_model(pair: ModelPair, config, objective, data, split: str = "test", log=print, also=None) -> dict:
    """Everything eval.json holds: task metrics base vs tuned, samples, forgetting and bias (each None when it does
    not apply or is switched off), and how long each part took; `also(pair)` adds parts of the caller's own (the
    earlier tasks of a continued run) while the pair is loaded."""
    seconds, started = {}, time.perf_counter()
    count = len(data.splits.get(split) or [])
    if count:
        log(f"evaluating base and fine-tuned model on {min(count, config.eval.max_examples or count)} {split} examples")
    result, outputs = evaluate_task(pair, config, objective, data, split)
    seconds["task"] = round(time.perf_counter() - started, 2)
    evaluation = {"objective": objective.name, "split": split, **(result or {"examples": 0, "metrics": {},
                                                                            "samples": []}),
                  "leak_free": leak_free(config, data, split, outputs, log), "forgetting": None, "bias": None,
                  "details": {}}
    skipped = {"forgetting": _forgetting_skipped(config, objective), "bias": _bias_skipped(config, outputs)}
    if not skipped["forgetting"]:
        started = time.perf_counter()
        evaluation["forgetting"], evaluation["details"]["forgetting"] = _forgetting(pair, config, log)
        seconds["forgetting"] = round(time.perf_counter() - started, 2)
    if not skipped["bias"]:
        started = time.perf_counter()
        evaluation["bias"], evaluation["details"]["bias"] = _bias(pair, config, objective.model_kind, outputs,
                                                                            data.labels, log)
        seconds["bias"] = round(time.perf_counter() - started, 2)
    if config.eval.lm_eval_tasks:
        evaluation["lm_eval"] = _lm_eval(pair, config, objective, log)
    evaluation["skipped"] = {part: reason for part, reason in skipped.items() if reason}
    if also is not None:
        started = time.perf_counter()
        evaluation.update(also(pair))
        seconds["also"] = round(time.perf_counter() - started, 2)
    pair.release_base()
    return {**evaluation, "seconds": seconds}


def evaluate_trained(model, tokenizer, config, objective, data, saved, log=print, also=None) -> dict:
    """The end-of-training evaluation, on the model in memory; `saved` is the run's SavedModel (its base)."""
    loader = None if is_peft(model) else base_loader(saved, dtype_name(model), config.training.seed)
    if loader is not None:
        log("full-weight run: the base model is loaded once more for the comparison")
    return evaluate_model(ModelPair(model, tokenizer, loader), config, objective, data, "test", log, also)


def with_eval_options(config, max_examples: int | None, forgetting: bool, bias: bool,
                      lm_eval: list[str] | None = None):
    config = config.model_copy(deep=True)
    config.eval.lm_eval_tasks = lm_eval if lm_eval is not None else config.eval.lm_eval_tasks
    config.eval.max_examples = max_examples or config.eval.max_examples
    config.eval.forgetting = config.eval.forgetting and forgetting
    config.eval.bias = config.eval.bias and bias
    return config


def evaluate_run(run: Path, console, split: str = "test", max_examples: int | None = None, forgetting: bool = True,
                 bias: bool = True, lm_eval: list[str] | None = None) -> dict:
    """`tunesmith eval RUN`: evaluate a finished run again and rewrite eval.json, summary.json and the report."""
    log = lambda line: console.print(line, highlight=False, markup=False)  # noqa: E731
    pair, config = pair_for_run(run)
    config = with_eval_options(config, max_examples, forgetting, bias, lm_eval)
    objective = get_objective(config.objective.name)
    data = objective.prepare_data(config, pair.tokenizer)
    if not data.splits.get(split):
        raise UserError(f"{run}: the run's data has no {split} split to evaluate on",
                        hint="set data.test or data.test_size in the run's config, or use --split validation")
    evaluation = evaluate_model(pair, config, objective, data, split, log)
    previous = read_json(run / "eval.json")
    if "test" in previous:  # the trainer's own loss on the test split, measured at the end of training
        evaluation["test"] = previous["test"]
    write_json(run / "eval.json", evaluation)
    summary = read_json(run / "summary.json")
    if summary:
        write_json(run / "summary.json", {**summary, **summary_fields(evaluation)})
    write_report(run)
    return evaluation


def summary_fields(evaluation: dict | None) -> dict:
    """What summary.json keeps of the evaluation: the metric table and the two verdicts."""
    evaluation = evaluation or {}
    verdict = lambda part: (evaluation.get(part) or {}).get("verdict")  # noqa: E731
    return {"comparison": evaluation.get("metrics") or None, "test": evaluation.get("test"),
            "forgetting": verdict("forgetting"), "bias": verdict("bias")}
