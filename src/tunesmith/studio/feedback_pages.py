"""Feedback: create a labelling task, label pairs (keyboard first), export preference and SFT data."""

from __future__ import annotations

import re
import time
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from tunesmith.errors import UserError
from tunesmith.studio.export import preference_rows, wins, write_exports
from tunesmith.studio.models import ModelRef, check_generates, system_prompt_of
from tunesmith.studio.prompts import read_prompts
from tunesmith.studio.runs_index import run_config
from tunesmith.studio.runs_pages import all_summaries
from tunesmith.studio.state import page, studio
from tunesmith.studio.try_page import model_choices

router = APIRouter()
MAX_UPLOAD = 20 * 2**20
EXPORTS = ("preferences", "corrections")


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_id: int = Field(ge=1)
    choice: Literal["a", "b", "tie", "skip", "correction"]
    correction: str | None = Field(None, max_length=50_000)


def _task_or_404(state, task_id: int) -> dict:
    task = state.store.task(task_id)
    if task is None:
        raise UserError(f"there is no labelling task {task_id}", hint="see the Feedback page for the tasks")
    return task


def _data_suggestions(summaries: list[dict], root) -> list[str]:
    """Data files the runs were trained and tested on: likely sources of prompts to label."""
    paths = []
    for run in summaries:
        data = run_config(root, run["id"]).get("data", {})
        paths += [data[k] for k in ("test", "validation", "train") if data.get(k)]
    return list(dict.fromkeys(paths))


@router.get("/feedback")
def tasks_page(request: Request, model: str | None = None):
    root = studio(request).root
    prefer = model.partition(":")[2] if model else None
    options = model_choices(root, prefer, with_gguf=False)  # labelling tasks train from runs, not from files
    return page(request, "feedback.html", tasks=studio(request).store.tasks(), options=options,
                suggestions=_data_suggestions(all_summaries(root), root), chosen=model or "")


def _save_upload(root, upload: UploadFile) -> str:
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise UserError(f"the uploaded file is larger than {MAX_UPLOAD // 2**20} MB")
    suffix = re.sub(r"[^A-Za-z0-9.]", "", "." + (upload.filename or "prompts.txt").rsplit(".", 1)[-1])[:10]
    folder = root / ".studio" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}{suffix}"
    path.write_bytes(data)
    return str(path)


@router.post("/feedback")
def create_task(
    request: Request,
    model_a: Annotated[str, Form(max_length=300)],
    model_b: Annotated[str, Form(max_length=300)],
    name: Annotated[str, Form(max_length=100)] = "",
    prompts_path: Annotated[str, Form(max_length=2000)] = "",
    prompts_file: Annotated[UploadFile | str | None, File()] = None,
    limit: Annotated[int, Form(ge=1, le=10_000)] = 20,
    system_prompt: Annotated[str, Form(max_length=20_000)] = "",
    temperature: Annotated[float, Form(ge=0.0, le=2.0)] = 0.8,
    max_new_tokens: Annotated[int, Form(ge=1, le=2048)] = 64,
    seed: Annotated[int, Form(ge=0, le=2**31)] = 0,
):
    state = studio(request)
    first, second = ModelRef.parse(model_a), ModelRef.parse(model_b)
    for ref in (first, second):
        check_generates(state.root, ref)
    if first == second and temperature == 0:
        raise UserError("two answers from one model need sampling", hint="set a temperature above 0, e.g. 0.8")
    uploaded = isinstance(prompts_file, UploadFile) and prompts_file.filename
    source = _save_upload(state.root, prompts_file) if uploaded else prompts_path.strip()
    if not source:
        raise UserError("say where the prompts come from", hint="a file path, a dataset, or upload a file")
    system = system_prompt.strip() or system_prompt_of(state.root, first.run_id)
    prompts = read_prompts(source, limit, system)
    label = name.strip() or f"{first.label} vs {second.label}"
    task_id = state.store.create_task(label, source, str(first), str(second), temperature, max_new_tokens, seed,
                                      prompts)
    state.pairs.want(task_id)
    return RedirectResponse(f"/feedback/{task_id}", status_code=303)


def _public(pair: dict | None) -> dict | None:
    """What the labeller sees: the answers without the models that wrote them (labelling stays blind)."""
    if pair is None:
        return None
    return {k: pair[k] for k in ("id", "position", "messages", "answer_a", "answer_b")}


def _next_state(state, task_id: int) -> dict:
    task = _task_or_404(state, task_id)
    pair = state.store.next_pair(task_id)
    progress = {k: task[k] for k in ("total", "generated", "rated", "counts")}
    state.pairs.want(task_id)  # keep the next pairs coming while this one is labelled
    return {"pair": _public(pair), "progress": progress, "error": task["error"],
            "done": task["rated"] >= task["total"]}


@router.get("/feedback/{task_id}")
def label_page(request: Request, task_id: int):
    state = studio(request)
    return page(request, "label.html", task=_task_or_404(state, task_id), **_next_state(state, task_id))


@router.get("/api/feedback/{task_id}/next")
def next_pair(request: Request, task_id: int):
    return _next_state(studio(request), task_id)


def _rate(state, task_id: int, rating: Rating) -> dict:
    _task_or_404(state, task_id)
    correction = (rating.correction or "").strip() or None
    if rating.choice == "correction" and not correction:
        raise UserError("a correction needs the corrected answer", hint="write it in the box, then save")
    if not state.store.rate(task_id, rating.prompt_id, rating.choice, correction if rating.choice == "correction"
                            else None):
        raise UserError(f"prompt {rating.prompt_id} is not a generated pair of task {task_id}")
    state.pairs.want(task_id)
    return {"saved": rating.prompt_id, "choice": rating.choice, **_next_state(state, task_id)}


@router.post("/api/feedback/{task_id}/rate")
def rate_json(request: Request, task_id: int, rating: Rating):
    """Answers only after the rating is committed: an acknowledged rating is on disk."""
    return _rate(studio(request), task_id, rating)


class Undo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_id: int = Field(ge=1)


@router.post("/api/feedback/{task_id}/undo")
def undo(request: Request, task_id: int, taken_back: Undo):
    """Take back a rating: the pair comes back on screen to be rated again."""
    state = studio(request)
    _task_or_404(state, task_id)
    pair = state.store.unrate(task_id, taken_back.prompt_id)
    if pair is None:
        raise UserError(f"prompt {taken_back.prompt_id} of task {task_id} has no rating to take back")
    return {**_next_state(state, task_id), "pair": _public(pair), "done": False, "undone": taken_back.prompt_id}


@router.post("/feedback/{task_id}/rate")
def rate_form(request: Request, task_id: int, prompt_id: Annotated[int, Form(ge=1)],
              choice: Annotated[Literal["a", "b", "tie", "skip", "correction"], Form()],
              correction: Annotated[str, Form(max_length=50_000)] = ""):
    """The same without JavaScript: a plain form post, then back to the next pair."""
    _rate(studio(request), task_id, Rating(prompt_id=prompt_id, choice=choice, correction=correction or None))
    return RedirectResponse(f"/feedback/{task_id}", status_code=303)


def _stem(task: dict) -> str:
    return f"task{task['id']}-" + (re.sub(r"[^A-Za-z0-9]+", "-", task["name"]).strip("-").lower()[:40] or "labels")


@router.get("/feedback/{task_id}/export")
def export_page(request: Request, task_id: int):
    state = studio(request)
    task = _task_or_404(state, task_id)
    pairs = state.store.rated_pairs(task_id)
    written = write_exports(pairs, state.root / "feedback", _stem(task))
    model_run = ModelRef.parse(task["model_a"]).run_id
    train_link = "/launch?" + urlencode({
        "from": model_run, "objective.name": "dpo", "data.train": str(written["paths"]["preferences"]),
        "data.validation": "", "data.test": "", "output.name": ""})
    return page(request, "export.html", task=task, written=written, sample=preference_rows(pairs)[0][:5],
                pairs=pairs, wins=wins(pairs) if task["model_a"] != task["model_b"] else {}, train_link=train_link)


@router.get("/feedback/{task_id}/download/{kind}")
def download(request: Request, task_id: int, kind: Literal["preferences", "corrections"]):
    state = studio(request)
    task = _task_or_404(state, task_id)
    written = write_exports(state.store.rated_pairs(task_id), state.root / "feedback", _stem(task))
    path = written["paths"][kind]
    return FileResponse(path, media_type="application/jsonl", filename=path.name)
