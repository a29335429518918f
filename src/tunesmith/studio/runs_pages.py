"""Pages about runs: the list, one run (live curves, evaluation, config, data report), and several compared."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse

from tunesmith.errors import UserError
from tunesmith.studio.runs_index import (
    LIVE,
    VIEWABLE,
    RunNotFound,
    compare,
    curves,
    details,
    read_metrics,
    resolve_run,
    run_ids,
    summarize,
)
from tunesmith.studio.state import page, studio

router = APIRouter()
RunIds = Annotated[list[str], Query(max_length=20)]  # ?run=a&run=b
# A run's own report page may carry inline styles and images; sandboxed, it cannot run script or reach the studio.
REPORT_CSP = "sandbox; default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'"


def all_summaries(root) -> list[dict]:
    return [summarize(root, run_id) for run_id in run_ids(root)]


@router.get("/")
def home():
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
def runs_list(request: Request):
    return page(request, "runs.html", runs=all_summaries(studio(request).root))


@router.get("/api/runs")
def runs_json(request: Request):
    return {"runs": all_summaries(studio(request).root)}


@router.get("/api/curves")
def curves_json(request: Request, run: RunIds):
    """Loss curves and status of the given runs (or launches still preparing), polled by the charts."""
    state = studio(request)
    found = []
    for run_id in run:
        launch = state.launcher.state(run_id) if "/" not in run_id else None
        try:
            folder = resolve_run(state.root, run_id)
        except RunNotFound:
            if launch is None:
                raise
            found.append({"id": run_id, "status": "starting" if launch["running"] else "failed", "curves": {},
                          "launch": launch})
            continue
        summary = summarize(state.root, run_id)
        found.append({"id": run_id, "status": _status(summary["status"], launch), "summary": summary,
                      "curves": curves(read_metrics(folder)), "launch": launch})
    return {"runs": found, "live": any(r["status"] in (*LIVE, "starting") or (r["launch"] or {}).get("running")
                                       for r in found)}


def _status(status: str, launch: dict | None) -> str:
    """A run whose training process ended without finishing it shows as stopped, not forever running."""
    if launch and status in LIVE and not launch["running"]:
        return "failed" if launch["returncode"] else "stopped"
    return status


@router.get("/runs/{run_id:path}")
def run_page(request: Request, run_id: str):
    state = studio(request)
    try:
        info = details(state.root, run_id)
    except RunNotFound:
        launch = state.launcher.state(run_id) if "/" not in run_id else None
        if launch is None:
            raise
        return page(request, "starting.html", run_id=run_id, launch=launch)
    return page(request, "run.html", run=info, launch=state.launcher.state(run_id))


@router.get("/compare")
def compare_page(request: Request, run: RunIds = []):  # noqa: B006 (FastAPI reads the default)
    chosen = list(dict.fromkeys(run))
    if not chosen:
        raise UserError("choose runs to compare", hint="tick them in the runs list, then press Compare")
    return page(request, "compare.html", **compare(studio(request).root, chosen))


@router.get("/files/{run_id:path}/{name}")
def run_file(request: Request, run_id: str, name: str):
    run = resolve_run(studio(request).root, run_id)
    if not VIEWABLE.match(name) or not (run / name).is_file():
        raise RunNotFound(f"{run_id} has no viewable file '{name}'")
    media = {".html": "text/html", ".png": "image/png"}.get((run / name).suffix, "text/plain")
    headers = {"Content-Security-Policy": REPORT_CSP} if name.endswith(".html") else {}
    return FileResponse(run / name, media_type=media, headers=headers)
