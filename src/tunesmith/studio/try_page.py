"""Try it: one prompt to several models at once (a base model and fine-tuned runs), answers side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from tunesmith.errors import UserError
from tunesmith.studio.models import (
    ModelRef,
    check_generates,
    generating_runs,
    gguf_files,
    system_prompt_of,
)
from tunesmith.studio.runs_pages import all_summaries
from tunesmith.studio.state import page, studio

router = APIRouter()
MAX_MODELS = 6


def model_choices(root, prefer: str | None = None, with_gguf: bool = True) -> list[dict]:
    """Every model the page can ask: each finished generating run, the base it started from (one entry per
    base model, named through run `prefer` when that run started from it) and each GGUF export in the folder."""
    runs, bases = [], {}
    for run in generating_runs(all_summaries(root)):
        runs.append({"ref": f"run:{run['id']}", "label": run["id"]})
        if run["model"] not in bases or run["id"] == prefer:
            bases[run["model"]] = {"ref": f"base:{run['id']}", "label": f"base model {run['model']}"}
    files = [ModelRef(path, gguf=True) for path in (gguf_files(root) if with_gguf else [])]
    return runs + list(bases.values()) + [{"ref": str(ref), "label": ref.label} for ref in files]


@router.get("/try")
def try_form(request: Request, run: str | None = None):
    root = studio(request).root
    chosen = [f"base:{run}", f"run:{run}"] if run else []
    system = system_prompt_of(root, run) if run else ""
    return page(request, "try.html", options=model_choices(root, run), chosen=chosen, prompt="", system=system or "",
                max_new_tokens=128, temperature=0.0, answers=[])


@router.post("/try")
def try_models(
    request: Request,
    prompt: Annotated[str, Form(min_length=1, max_length=20_000)],
    models: Annotated[list[str], Form(max_length=MAX_MODELS)],
    system: Annotated[str, Form(max_length=20_000)] = "",
    max_new_tokens: Annotated[int, Form(ge=1, le=2048)] = 128,
    temperature: Annotated[float, Form(ge=0.0, le=2.0)] = 0.0,
):
    state = studio(request)
    refs = [ModelRef.parse(text) for text in dict.fromkeys(models)]
    if not prompt.strip():
        raise UserError("the prompt is empty")
    for ref in refs:
        check_generates(state.root, ref)
    conversation = ([{"role": "system", "content": system}] if system.strip() else [])
    conversation.append({"role": "user", "content": prompt})
    answers = [{"label": ref.label, "ref": str(ref),
                "text": state.models.answer(ref, [conversation], max_new_tokens, temperature)[0]} for ref in refs]
    prefer = next((r.run_id for r in refs if r.base), None)
    return page(request, "try.html", options=model_choices(state.root, prefer), chosen=[str(r) for r in refs],
                prompt=prompt, system=system, max_new_tokens=max_new_tokens, temperature=temperature, answers=answers)
