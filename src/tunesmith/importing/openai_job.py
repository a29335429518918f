"""`tunesmith import-openai JOB.json`: an OpenAI fine-tuning job (its description and its JSONL files) as a
tunesmith config that does the same job on a local model.

What maps exactly: the training and validation files (OpenAI's chat format, with tools, weights and preference
rows, is read as it is), n_epochs, batch_size, the method (supervised -> sft, dpo -> dpo with its beta,
reinforcement -> grpo with the grader as the reward), seed, suffix (the run's name), eval_interval (eval.steps).
Approximately: learning_rate_multiplier multiplies tunesmith's own default rate for the method and model (OpenAI
does not publish the rate it multiplies); "auto" values leave tunesmith's defaults to decide. No equivalent: the
OpenAI model itself (a local model trains instead: --model), reasoning_effort, compute_multiplier, eval_samples,
response_format, integrations and metadata; they are listed in the written config's header.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import yaml

from tunesmith.config import build_config
from tunesmith.data.build import build_dataset
from tunesmith.errors import UserError
from tunesmith.models import resolve_model
from tunesmith.objectives.graders import referenced_fields, scorer
from tunesmith.training.defaults import learning_rate, model_shape

METHODS = {"supervised": ("sft", "chat"), "dpo": ("dpo", "preference"), "reinforcement": ("grpo", "chat")}
NO_EQUIVALENT = ("reasoning_effort", "compute_multiplier", "eval_samples")


def read_job(path: Path) -> dict:
    try:
        job = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the job description ({exc})") from None
    if not isinstance(job, dict) or not job.get("training_file"):
        raise UserError(f"{path}: not an OpenAI fine-tuning job: it has no 'training_file'",
                        hint="give the job as `client.fine_tuning.jobs.retrieve(...)` returns it, or its create body")
    return job


def method_of(job: dict, where: Path) -> tuple[str, dict]:
    """(method type, its settings); the older top-level `hyperparameters` count as supervised."""
    method = job.get("method") or {"type": "supervised", "supervised": {"hyperparameters": job.get(
        "hyperparameters") or {}}}
    kind = method.get("type")
    if kind not in METHODS:
        raise UserError(f"{where}: method.type '{kind}' is not supervised, dpo or reinforcement")
    settings = method.get(kind) or {}
    return kind, {**(job.get("hyperparameters") or {}), **(settings.get("hyperparameters") or {}),
                  **{k: v for k, v in settings.items() if k != "hyperparameters"}}


def find_file(name: str, files: Path | None, job_path: Path) -> Path:
    """A file id or name: in --files (as named, or <id>.jsonl), else as a path beside the job or here."""
    folders = [f for f in (files, job_path.parent, Path.cwd()) if f is not None]
    for candidate in (folder / f"{name}{suffix}" for folder in folders for suffix in ("", ".jsonl")):
        if candidate.is_file():
            return candidate.resolve()
    raise UserError(f"{job_path}: training/validation file '{name}' not found in {', '.join(map(str, folders))}",
                    hint="download it (client.files.content(ID)) into a folder and pass --files FOLDER")


def check_file(path: Path, schema: str) -> int:
    """Rows of the file, after the data stage's own checks (file, line and field on a problem)."""
    with tempfile.TemporaryDirectory() as work:
        _, _, rows = build_dataset(str(path), schema, Path(work), columns={}, system_prompt=None, labels=None)
    return rows


def grader_rows(source: Path, target: Path, fields: list[str]) -> None:
    """Reinforcement rows ({messages, item fields...}) as chat rows whose last assistant message carries what the
    grader reads of the item: the one field it names, or all item fields as a JSON object."""
    out = []
    for number, line in enumerate(source.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        item = {k: v for k, v in row.items() if k not in ("messages", "tools")}
        if len(fields) == 1 and fields[0] in item:
            value = item[fields[0]]
            reference = value if isinstance(value, str) else json.dumps(value)
        elif item:
            reference = json.dumps(item)
        else:
            raise UserError(f"{source}:{number}: the row has no fields besides messages for the grader to read")
        messages = list(row.get("messages") or [])
        if messages and messages[-1].get("role") == "assistant":  # the reference takes the reply's place
            messages = messages[:-1]
        out.append({"messages": [*messages, {"role": "assistant", "content": reference}],
                    **({"tools": row["tools"]} if row.get("tools") else {})})
    target.write_text("".join(json.dumps(r) + "\n" for r in out))


def _rate(multiplier, method: str, model: str, log) -> tuple[float | None, str]:
    if multiplier in (None, "auto"):
        return None, "learning_rate_multiplier auto: tunesmith's default rate decides"
    source = resolve_model(model, log)
    rate, why = learning_rate(method, model_shape(source.path))
    chosen = float(f"{rate * float(multiplier):.3g}")
    return chosen, (f"learning_rate {chosen:g} = learning_rate_multiplier {multiplier} x tunesmith's default "
                    f"{rate:g} ({why}) [approximate]")


def _auto(value):
    return None if value in (None, "auto") else value


def build_job_config(job: dict, job_path: Path, files: Path | None, model: str, out: Path, log) -> tuple[dict, list]:
    """(the raw config, notes on how each setting mapped)."""
    kind, settings = method_of(job, job_path)
    objective, schema = METHODS[kind]
    notes = [f"model: OpenAI's {job.get('model', '?')} has no local weights; {model} trains instead [no equivalent]"]
    data = {"train": str(find_file(job["training_file"], files, job_path))}
    if job.get("validation_file"):
        data["validation"] = str(find_file(job["validation_file"], files, job_path))
    raw = {"model": {"name": model}, "method": {"name": "lora"}, "objective": {"name": objective}, "data": data,
           "training": {}, "eval": {}, "output": {"dir": "runs"}}
    if kind == "reinforcement":
        notes += _reinforcement(settings, raw, out)
    for name in ("train", "validation"):
        if name in data:
            notes.append(f"data.{name}: {data[name]} ({check_file(Path(data[name]), schema)} rows checked) [exact]")
    notes += _hyperparameters(settings, raw, model, kind, log)
    for key in ("seed", "suffix"):
        if job.get(key) is not None:
            raw["training" if key == "seed" else "output"]["seed" if key == "seed" else "name"] = job[key]
            notes.append(f"{key}: {job[key]} [exact]")
    notes += [f"{key}: no equivalent, not used" for key in ("integrations", "metadata") if job.get(key)]
    return raw, notes


def _hyperparameters(settings: dict, raw: dict, model: str, kind: str, log) -> list[str]:
    notes = []
    if _auto(settings.get("n_epochs")) is not None:
        raw["training"]["epochs"] = float(settings["n_epochs"])
        notes.append(f"n_epochs {settings['n_epochs']} -> training.epochs [exact]")
    if _auto(settings.get("batch_size")) is not None:
        raw["training"]["batch_size"] = int(settings["batch_size"])
        notes.append(f"batch_size {settings['batch_size']} -> training.batch_size [exact]")
    rate, why = _rate(settings.get("learning_rate_multiplier"), raw["method"]["name"], model, log)
    if rate is not None:
        raw["training"]["learning_rate"] = rate
    notes.append(why)
    if kind == "dpo" and _auto(settings.get("beta")) is not None:
        raw["objective"]["beta"] = float(settings["beta"])
        notes.append(f"beta {settings['beta']} -> objective.beta [exact]")
    if _auto(settings.get("eval_interval")) is not None:
        raw["eval"]["steps"] = int(settings["eval_interval"])
        notes.append(f"eval_interval {settings['eval_interval']} -> eval.steps [exact]")
    notes += [f"{key}: no equivalent, not used" for key in NO_EQUIVALENT if settings.get(key) not in (None, "auto")]
    return notes


def _reinforcement(settings: dict, raw: dict, out: Path) -> list[str]:
    grader = settings.get("grader")
    if not isinstance(grader, dict):
        raise UserError("method.reinforcement.grader is missing: a reinforcement job needs one")
    scorer(grader)  # an unsupported grader stops here
    grader_path = out.with_name(f"{out.stem}.grader.json")
    grader_path.write_text(json.dumps(grader, indent=2))
    raw["objective"]["reward"] = f"grader:{grader_path}"
    fields = referenced_fields(grader)
    for name in ("train", "validation"):
        if name in raw["data"]:
            target = out.with_name(f"{out.stem}.{name}.jsonl")
            grader_rows(Path(raw["data"][name]), target, fields)
            raw["data"][name] = str(target)
    notes = [f"grader {grader.get('type')} '{grader.get('name', '')}' -> objective.reward grader:{grader_path} "
             "[exact]", f"rows rewritten to carry item field(s) {', '.join(fields) or '(all)'} as the reference"]
    if settings.get("response_format"):
        notes.append("response_format: no equivalent, not used")
    return notes


def import_job(job_path: Path, files: Path | None, model: str, out: Path | None, log) -> Path:
    """Write the tunesmith config for the job; returns its path. Nothing is written when a check fails."""
    job = read_job(job_path)
    out = (out or job_path.with_name(f"{job_path.stem}.tunesmith.yaml")).resolve()
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=out.parent))
    try:
        raw, notes = build_job_config(job, job_path, files, model, staging / out.name, log)
        build_config(raw, str(out))  # what we write must load
        header = "".join(f"# {line}\n" for line in [f"from OpenAI fine-tuning job {job_path.name}", *notes])
        text = header + yaml.safe_dump(_relocate(raw, staging, out.parent), sort_keys=False)
        (staging / out.name).write_text(text)
        for made in staging.iterdir():
            made.replace(out.parent / made.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for line in notes:
        log(line)
    return out


def _relocate(raw: dict, staging: Path, folder: Path) -> dict:
    """Paths to files written in the staging folder, as they will be once moved beside the config."""
    text = json.dumps(raw).replace(str(staging), str(folder))
    return json.loads(text)
