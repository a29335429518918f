"""The studio's FastAPI application: shared state, templates, error pages, security headers and the routers."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from tunesmith.errors import UserError
from tunesmith.serve.guards import BodyLimit
from tunesmith.studio import feedback_pages, launch_pages, runs_pages, try_page
from tunesmith.studio.auth import (
    COOKIE,
    LOOPBACK_NAMES,
    StudioGuard,
    password_matches,
    session_token,
)
from tunesmith.studio.launch import Launcher
from tunesmith.studio.models import ModelCache
from tunesmith.studio.pairs import PairMaker
from tunesmith.studio.runs_index import RunNotFound
from tunesmith.studio.state import Studio, StudioSettings, page, studio  # noqa: F401 (StudioSettings: the package's API)
from tunesmith.studio.store import Store

HERE = Path(__file__).parent
MAX_BODY = 25 * 2**20  # the largest prompt file upload (20 MB) plus the form around it
# Scripts only from the studio's own static files: even if some text escaped its escaping, it could not run.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError):
        status = 404 if isinstance(exc, RunNotFound) else 400
        if _wants_json(request):
            return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)
        return page(request, "error.html", status, message=exc.message, hint=exc.hint)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'query', 'path', 'form'))}: "
                    f"{e.get('msg', 'invalid value')}" for e in exc.errors()]
        message = "; ".join(problems) or "invalid request"
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=400)
        return page(request, "error.html", 400, message=message, hint=None)


def _security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def _login_routes(app: FastAPI) -> None:
    @app.get("/login")
    def login_form(request: Request):
        return page(request, "login.html", failed=False)

    @app.post("/login")
    async def login(request: Request, password: str = Form("", max_length=1000)):
        expected = studio(request).settings.password
        if not expected:
            return RedirectResponse("/runs", status_code=303)
        if not password_matches(password, expected):
            await asyncio.sleep(0.5)  # guessing costs time
            return page(request, "login.html", 401, failed=True)
        response = RedirectResponse("/runs", status_code=303)
        response.set_cookie(COOKIE, session_token(expected), httponly=True, samesite="strict")
        return response

    @app.post("/logout")
    def logout():
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response


def create_app(settings: StudioSettings) -> FastAPI:
    root = settings.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_path)
    models = ModelCache(root)
    pairs = PairMaker(store, models)
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html templates

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pairs.start()
        yield
        pairs.stop()

    app = FastAPI(title="tunesmith studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = Studio(settings, root, store, models, pairs, Launcher(root, store), templates)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _install_error_pages(app)
    _security_headers(app)
    _login_routes(app)
    for module in (runs_pages, try_page, feedback_pages, launch_pages):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY)
    app.add_middleware(StudioGuard, password=settings.password, loopback_only=settings.host in LOOPBACK_NAMES)
    return app
