"""The model card (README.md) of an export: what it is, what it learned from, how well, and how to use it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tunesmith.models.resolve import MODEL_CLASSES
from tunesmith.runs import read_json

TRAINING_FIELDS = ("epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "learning_rate",
                   "lr_scheduler", "warmup_ratio", "weight_decay", "max_grad_norm", "seed")


def model_card(run: Path, config, export: dict, usage: str) -> str:
    """Markdown with a YAML header, built from the run's config.yaml, manifest.json, summary.json and eval.json."""
    manifest, summary, evaluation = (read_json(run / f) for f in ("manifest.json", "summary.json", "eval.json"))
    sections = [
        _header(config, export), _overview(run, config, export), _data(config, manifest),
        _hyperparameters(config), _results(summary, evaluation), _export_check(export),
        _usage(config, export, usage), _intended_use(config, manifest, evaluation),
    ]
    return "\n\n".join(s.strip() for s in sections if s) + "\n"


def _header(config, export: dict) -> str:
    meta = {"library_name": "peft" if export["format"] == "adapter" else "transformers",
            "tags": ["tunesmith", config.method.name, config.objective.name]}
    if export.get("base_origin") == "hub":  # the Hub validates base_model as a Hub id; local paths would fail it
        meta["base_model"] = config.model.name
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---"


def _overview(run: Path, config, export: dict) -> str:
    return (
        f"# {Path(export['folder']).name}\n\n"
        f"`{config.model.name}` fine-tuned with tunesmith: method **{config.method.name}**, objective "
        f"**{config.objective.name}** (run `{run.name}`). Exported as **{export['format']}** on "
        f"{export['exported']}.\n\n"
        f"- base model: `{config.model.name}` (loaded from `{export['base_path']}`)\n"
        f"- chat template: the base tokenizer's, saved with this model; training and inference both use it"
    )


def _data(config, manifest: dict) -> str:
    hashes, prepared = manifest.get("data_sha256", {}), manifest.get("prepared_data_sha256")
    report = manifest.get("data_report", {})
    report = report.get("tokens", report)  # newer runs keep per-split token counts under "tokens"
    rows = ["| split | file | sha256 | examples | tokens (with loss) |", "|---|---|---|---|---|"]
    for split in ("train", "validation", "test"):
        path, stats = getattr(config.data, split, None), report.get(split, {})
        if path or stats:
            tokens = f"{stats['tokens']} ({stats['loss_tokens']})" if "tokens" in stats else "-"
            rows.append(f"| {split} | {f'`{path}`' if path else 'split from train'} | `{hashes.get(split) or '-'}` | "
                        f"{stats.get('examples', '-')} | {tokens} |")
    text = "## Training data\n\n" + "\n".join(rows)
    if prepared:
        text += "\n\nCleaned splits the run trained on (`data/` in the run), sha256: " + ", ".join(
            f"{split} `{digest}`" for split, digest in prepared.items())
    return text


def _hyperparameters(config) -> str:
    method = {f"method.{k}": v for k, v in config.method.model_dump(mode="json").items()}
    training = {f"training.{k}": getattr(config.training, k) for k in TRAINING_FIELDS}
    other = {"objective.loss_on": config.objective.loss_on, "data.max_length": config.data.max_length,
             "model.dtype": config.model.dtype}
    rows = [f"| `{key}` | {value} |" for key, value in {**method, **training, **other}.items()]
    return "## Method and hyper-parameters\n\n| field | value |\n|---|---|\n" + "\n".join(rows) + (
        "\n\nThe run's full resolved config is its `config.yaml`.")


def _results(summary: dict, evaluation: dict) -> str:
    parts = ["## Results"]
    metrics = evaluation.get("metrics") or {}
    if metrics:
        # Rates as percentages; perplexity and margins (scale "value") as plain numbers.
        spec = lambda m: ".1%" if m.get("scale", "fraction") == "fraction" else ".4g"  # noqa: E731
        rows = [f"| {name} | {m['base']:{spec(m)}} | {m['tuned']:{spec(m)}} | {m['delta']:+{spec(m)}} "
                f"[{m['delta_ci95'][0]:+{spec(m)}}, {m['delta_ci95'][1]:+{spec(m)}}] |" for name, m in metrics.items()]
        parts.append(f"Base vs fine-tuned on {evaluation.get('examples', '?')} held-out examples (greedy decoding; "
                     "paired bootstrap 95% interval):\n\n| metric | base | fine-tuned | difference [95% CI] |\n"
                     "|---|---|---|---|\n" + "\n".join(rows))
    if evaluation.get("test"):  # the trainer's own test metrics (loss...), beside the comparison where both exist
        scores = evaluation["test"]
        parts.append("Held-out test split:\n\n" + "\n".join(f"- {k.removeprefix('test_')}: {_fmt(v)}"
                                                              for k, v in scores.items()))
    if not (metrics or evaluation.get("test")):
        parts.append("No base-vs-fine-tuned comparison was recorded for this run (no test data).")
    losses = {k: summary[k] for k in ("steps", "first_train_loss", "final_train_loss", "eval_loss", "tokens_seen")
              if summary.get(k) is not None}
    if losses:
        parts.append("Training: " + ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in losses.items()) + ".")
    for name in ("forgetting", "bias"):
        parts.append(_named_result(name, evaluation.get(name, summary.get(name))))
    return "\n\n".join(parts)


def _named_result(name: str, value) -> str:
    title = name.capitalize()
    if value is None:
        return f"**{title}**: not measured for this run."
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return f"**{title}**:\n\n" + "\n".join(f"- {k}: {_fmt(v)}" for k, v in value.items())
    return f"**{title}**:\n\n```json\n{json.dumps(value, indent=2, default=str)}\n```"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _gguf_row(qtype: str, c: dict) -> str:
    need = f"{c['required']:.0%}" if c["required"] else "reported"
    return (f"| `model-{qtype}.gguf` | {c['bytes'] / 1e6:.1f} MB | {c['top1_agreement']:.1%} | {need} | "
            f"{c['max_abs_diff']:.3g} |")


def _gguf_check(check: dict) -> str:
    if "skipped" in check:
        return f"## Export check\n\nThe files were written but not loaded back: {check['skipped']}."
    rows = [_gguf_row(qtype, c) for qtype, c in check["files"].items()]
    some = next(iter(check["files"].values()))
    return ("## Export check\n\nEach file was loaded back in llama.cpp (llama-cpp-python) and compared with the run's "
            f"unmerged model on {some['probes']} probe inputs ({some['positions']} positions):\n\n"
            "| file | size | same next token | required | max logit difference |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + f"\n\nllama.cpp tokenized {check['tokenizer_agreement']:.0%} of the probe texts "
            "exactly like the run's tokenizer.")


def _task_check(task: dict | None) -> str:
    """The export against the run's model on the run's test split (export/task_check.py)."""
    if not task:
        return ""
    if "skipped" in task:
        return f"Not scored on the test split: {task['skipped']}."
    rows = []
    for label, result in task["exports"].items():
        for name, m in result["metrics"].items():
            rows.append(f"| {label} | {name} | {m['run']:.1%} | {m['export']:.1%} | {m['delta']:+.1%} "
                        f"[{m['delta_ci95'][0]:+.1%}, {m['delta_ci95'][1]:+.1%}] | {result['same_output']:.1%} | "
                        f"{result['speedup']:.2f}x |")
    return (f"On the run's test split ({task['examples']} examples), the export beside the run's model (paired "
            "bootstrap 95% interval; speed: one request at a time on this machine's CPU, relative to the run's "
            "PyTorch model):\n\n| export | metric | run | export | difference [95% CI] | same output | speed |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def _export_check(export: dict) -> str:
    check = export["check"]
    text = _gguf_check(check) if export["format"] in ("gguf", "ollama") else _probe_check(check)
    return "\n\n".join(part for part in (text, _task_check(check.get("task"))) if part)


def _probe_check(check: dict) -> str:
    limit = (f"passes at next-token agreement >= {check['min_agreement']:.0%} (lossy format)" if check["lossy"]
             else f"tolerance {check['tolerance']:g}")
    return (
        "## Export check\n\n"
        f"Before this folder was written into place, its model was loaded back and compared with the run's "
        f"unmerged model on {check['probes']} probe inputs like the run's data (generating models: each extended by "
        f"its greedy continuation; {check['positions']} positions): max |logit difference| "
        f"**{check['max_abs_diff']:.3g}** ({limit}); the same prediction at {check['top1_agreement']:.1%} of positions."
    )


def _usage(config, export: dict, usage: str) -> str:
    usage = usage.replace("{auto}", MODEL_CLASSES.get(export.get("model_kind", "causal_lm"), "AutoModel"))
    lines = ["## How to use", "", f"Load: {usage}.", "",
             "Serve it behind an OpenAI-compatible API:", "", "```bash", f"tunesmith serve {export['folder']}", "```"]
    if config.data.system_prompt:
        lines += ["", f"Trained with the system prompt `{config.data.system_prompt}`; send it as the first message "
                      "(`tunesmith serve` adds it when a request has no system message)."]
    return "\n".join(lines)


def _intended_use(config, manifest: dict, evaluation: dict) -> str:
    report = manifest.get("data_report", {})
    train = report.get("tokens", report).get("train", {}).get("examples", "?")
    tested = evaluation.get("examples")
    measured = (f"It was measured only on {tested} held-out examples from the same source as its training data."
                if tested else "It was not measured on held-out data.")
    return (
        "## Intended use and limitations\n\n"
        f"Intended for the task its training data shows ({train} examples from `{config.data.train}`), with prompts "
        f"like those and the chat template above. {measured} It was not evaluated for safety, factual accuracy or "
        "inputs unlike its training data, and it keeps the base model's limitations and license "
        f"(`{config.model.name}`). Check it on your own data before relying on it."
    )
