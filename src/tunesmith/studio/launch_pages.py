"""Launch training from a form; the run page then follows it live."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from tunesmith.errors import UserError
from tunesmith.studio.launch import (
    FIELDS,
    base_config,
    config_from_form,
    describe_fields,
    form_values,
)
from tunesmith.studio.runs_index import RUN_ID, run_ids
from tunesmith.studio.state import page, studio

router = APIRouter()
MAX_FIELD = 5_000


def _form_page(request: Request, from_run: str, values: dict, more: str, error: UserError | None = None):
    status = 400 if error else 200
    return page(request, "launch.html", status, fields=describe_fields(), values=values, more=more,
                from_run=from_run, runs=run_ids(studio(request).root), error=error)


@router.get("/launch")
def launch_form(request: Request):
    """`?from=RUN` copies that run's settings; `?objective.name=dpo&data.train=...` presets single fields."""
    query = request.query_params
    from_run = query.get("from", "")
    preset = {key: query[key][:MAX_FIELD] for key, _ in FIELDS if key in query}
    raw = base_config(studio(request).root, from_run or None)
    return _form_page(request, from_run, form_values(raw, preset), "")


@router.post("/launch")
async def launch(request: Request):
    form = await request.form()
    text = {key: value for key, value in form.items() if isinstance(value, str)}
    if any(len(value) > MAX_FIELD for value in text.values()):
        raise UserError(f"a field is longer than {MAX_FIELD} characters")
    return await run_in_threadpool(_launch, request, text)


def _launch(request: Request, text: dict[str, str]):
    from_run, more = text.get("from", ""), text.get("more", "")
    if from_run and not RUN_ID.match(from_run):
        raise UserError(f"'{from_run}' is not a run name")
    values = {key: text.get(key, "") for key, _ in FIELDS}
    state = studio(request)
    try:
        config = config_from_form(state.root, base_config(state.root, from_run or None), values, more)
    except UserError as error:
        return _form_page(request, from_run, values, more, error)
    name = state.launcher.start(config)
    return RedirectResponse(f"/runs/{name}", status_code=303)


@router.post("/api/launch/{name}/stop")
def stop(request: Request, name: str):
    if not studio(request).launcher.stop(name):
        raise UserError(f"'{name}' is not a training process this studio is running")
    return {"stopping": name}
