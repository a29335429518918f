"""Replay: general examples mixed into the training split, so fine-tuning keeps rehearsing what the model knew.

Two sources (`data.replay.source`):
- a data file or folder (chat rows for sft, raw text for causal_lm) goes through the same load, clean and dedup
  steps as the task data, and a seeded sample of it joins the training split;
- `base` asks the base model itself (sft): before training it answers general instructions greedily, and its own
  token ids (the instruction in the chat template, the answer exactly as generated) become training rows with loss
  on the answer. Training on the base's own outputs pulls the fine-tuned model's general behaviour back towards the
  base's. The shipped instructions are kept apart from the forgetting check's prompts, so the check never scores
  text the model trained on. Answers are cached per model, dtype, instructions and length, so sweeps and
  cross-validation folds generate them once.

Replay rows only ever join the training split; a file row that repeats a validation or test row is left out.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tunesmith.config import DataConfig
from tunesmith.data.dedup import dedup_text, exact_key
from tunesmith.data.examples import ChatExample, length_limit, split_stats
from tunesmith.data.pipeline import prepare_splits
from tunesmith.data.split import seeded_sample
from tunesmith.data.tokenize import IGNORE, prompt_token_ids
from tunesmith.errors import UserError
from tunesmith.models.gguf import tunesmith_home

BASE = "base"
PROMPTS_FILE = Path(__file__).parent / "replay_prompts.txt"
MAX_PROMPT_TOKENS = 256


def check_replay(objective: str, kinds: tuple[str, ...], cfg: DataConfig) -> None:
    """Refuse replay settings the objective cannot use (`kinds`: the replay sources it takes, "file" and/or
    "base"), before anything loads."""
    source = cfg.replay.source
    if source is None:
        return
    kind = BASE if source == BASE else "file"
    if kind not in kinds:
        usable = f"it takes {' or '.join(kinds)}" if kinds else "it takes none"
        raise UserError(f"data.replay.source={source} does not work with objective.name={objective} ({usable})",
                        hint="replay works with sft (a file or base) and causal_lm (a file); forgetting is measured "
                             "on generating models")
    path = Path(source).expanduser()
    hub_id = "/" in source and not source.startswith((".", "/", "~")) and not path.suffix
    if kind == "file" and not (path.exists() or hub_id):
        raise UserError(f"data.replay.source: {source} not found",
                        hint="a data file or folder, a Hub dataset id, or `base` for the base model's own answers")


def replay_count(fraction: float, train_rows: int, available: int) -> int:
    return min(available, max(1, round(fraction * train_rows)))


def file_replay(cfg: DataConfig, schema: str, train_rows: int, held_out: list[str]) -> tuple[list[dict], dict]:
    """Rows of the replay file (cleaned like the task data; standard field names, no system prompt added), minus
    any that repeat a held-out row (`held_out`: their dedup texts), sampled to replay.fraction of the training rows."""
    own = cfg.model_copy(update={"train": cfg.replay.source, "validation": None, "test": None, "columns": {},
                                 "validation_size": 0.0, "test_size": 0.0, "system_prompt": None, "labels": None})
    splits, report = prepare_splits(own, schema)
    evaluation = {exact_key(text) for text in held_out}
    rows = [row for row in splits["train"] if exact_key(dedup_text(row)) not in evaluation]
    chosen = seeded_sample(rows, replay_count(cfg.replay.fraction, train_rows, len(rows)), cfg.seed)
    return chosen, {"source": cfg.replay.source, "read": report["sources"]["train"]["records"],
                    "available": len(rows), "overlapping_evaluation": len(splits["train"]) - len(rows),
                    "rows": len(chosen), "requested": round(cfg.replay.fraction * train_rows)}


def read_instructions(path: str | None) -> list[str]:
    source = Path(path).expanduser() if path else PROMPTS_FILE
    if not source.is_file():
        raise UserError(f"data.replay.prompts: {source} not found", hint="a text file with one instruction per line")
    lines = [line.strip() for line in source.read_text().splitlines()]
    prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise UserError(f"data.replay.prompts: {source} holds no instructions", hint="one instruction per line")
    return prompts


def _model_identity(model_path: str) -> list:
    """What makes a model's answers what they are: its files' names, sizes and modification times."""
    folder = Path(model_path)
    files = [folder] if folder.is_file() else sorted(p for p in folder.iterdir() if p.is_file())
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def _cache_path(model_path: str, dtype: str, prompts: list[list[int]], max_new_tokens: int) -> Path:
    identity = {"model": _model_identity(model_path), "dtype": dtype, "prompts": prompts,
                "max_new_tokens": max_new_tokens, "version": 1}
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:20]
    return tunesmith_home() / "replay" / f"{key}.json"


def base_answers(answer, prompts: list[list[int]], max_new_tokens: int, cache: Path | None) -> list:
    """The base model's greedy answer token ids to each prompt, from `answer(prompts, max_new_tokens)` (see
    training/replay.py) or from the cache."""
    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())
    answers = answer(prompts, max_new_tokens)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(answers))
        os.replace(tmp, cache)
    return answers


def base_replay(answer, tokenizer, cfg: DataConfig, model_path: str, dtype: str, train_rows: int):
    """(chat examples, tokenized rows, report) of the base's own answers, sampled to replay.fraction."""
    instructions = read_instructions(cfg.replay.prompts)
    chosen = seeded_sample(instructions, replay_count(cfg.replay.fraction, train_rows, len(instructions)), cfg.seed)
    prompts = prompt_token_ids(tokenizer, chosen, MAX_PROMPT_TOKENS)
    cache = _cache_path(model_path, dtype, prompts, cfg.replay.max_new_tokens) if cfg.cache else None
    answers = base_answers(answer, prompts, cfg.replay.max_new_tokens, cache)
    kept = [(text, p, a) for text, p, a in zip(chosen, prompts, answers)
            if a and len(p) + len(a) <= length_limit(cfg)[0]]
    examples = [ChatExample(f"replay:{instructions.index(text) + 1}", [
        {"role": "user", "content": text},
        {"role": "assistant", "content": tokenizer.decode(a, skip_special_tokens=True).strip()}])
        for text, _, a in kept]
    # The answer's own ids, not a re-tokenization of its text: the rows hold exactly what the base produced; an
    # answer cut at max_new_tokens has no end-of-turn token, so it teaches no early stop.
    rows = [{"input_ids": p + a, "labels": [IGNORE] * len(p) + a} for _, p, a in kept]
    ended = sum(a[-1] == tokenizer.eos_token_id for _, _, a in kept)
    return examples, rows, {"source": BASE, "instructions": len(instructions), "rows": len(rows),
                            "requested": round(cfg.replay.fraction * train_rows), "ended_with_eos": ended,
                            "cache": None if cache is None else str(cache)}


def describe_replay(info: dict) -> str:
    short = f" (asked for {info['requested']}; only {info.get('available', info.get('instructions'))} available)" \
        if info["requested"] > info["rows"] else ""
    return f"replay: {info['rows']} rows from {info['source']} joined the training split{short}"


def mix_answers(answer, tokenizer, data, cfg: DataConfig, model_path: str, dtype: str) -> dict:
    """Add the base's answers (`answer`, see base_answers) to the prepared training split (examples, tokenized rows
    and counts)."""
    examples, rows, info = base_replay(answer, tokenizer, cfg, model_path, dtype, len(data.tokenized["train"]))
    data.splits["train"] = list(data.splits["train"]) + examples
    data.tokenized["train"] = list(data.tokenized["train"]) + rows
    data.report["train"] = split_stats(data.tokenized["train"])
    data.data_report["replay"] = info
    return info
