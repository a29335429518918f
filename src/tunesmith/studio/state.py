"""What every studio page reaches: the shared state on the app, and rendering a template with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from tunesmith.studio.launch import Launcher
from tunesmith.studio.models import ModelCache
from tunesmith.studio.pairs import PairMaker
from tunesmith.studio.store import Store


@dataclass(frozen=True)
class StudioSettings:
    root: Path = Path("runs")  # the folder of run directories the studio shows and trains into
    host: str = "127.0.0.1"  # loopback unless told otherwise: the studio can start training and read files
    port: int = 7860
    password: str | None = None
    database: Path | None = None  # default: <root>/studio.db

    @property
    def database_path(self) -> Path:
        return self.database or self.root / "studio.db"


@dataclass
class Studio:
    settings: StudioSettings
    root: Path
    store: Store
    models: ModelCache
    pairs: PairMaker
    launcher: Launcher
    templates: Jinja2Templates


def studio(request: Request) -> Studio:
    return request.app.state.studio


def page(request: Request, template: str, status: int = 200, **context):
    state = studio(request)
    return state.templates.TemplateResponse(request, template, {"password": bool(state.settings.password), **context},
                                            status_code=status)
