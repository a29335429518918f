"""The FastAPI application: routes, error bodies, guards and the model worker's life cycle."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import Response

from tunesmith.serve import classify, completions
from tunesmith.serve.classify import run_classification
from tunesmith.serve.engine import Engine, Job, QueueFull
from tunesmith.serve.errors import APIError, install_error_handlers
from tunesmith.serve.generation import run_generation
from tunesmith.serve.runtimes import run_gguf_generation, run_onnx_classification
from tunesmith.serve.guards import ApiKeyGuard, BodyLimit, RequestMetrics
from tunesmith.serve.telemetry import Metrics


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"  # loopback unless told otherwise: a model server should not be public by accident
    port: int = 8000
    api_key: str | None = None
    max_tokens: int = 512  # the largest max_tokens a request may ask for (also the default)
    max_request_bytes: int = 1_000_000
    max_queue: int = 64  # requests waiting beyond these get 503 + Retry-After
    max_batch: int = 8  # sequences generated together
    timeout: float = 300.0  # seconds a non-streaming request may wait for its answer


@dataclass
class ServerState:
    pool: object  # ModelPool
    engine: Engine
    settings: ServeSettings
    metrics: Metrics

    def submit(self, job: Job) -> None:
        try:
            self.engine.submit(job)
        except QueueFull:
            raise APIError(503, f"the server is busy ({self.settings.max_queue} requests waiting); retry shortly",
                           "server_error", code="queue_full", headers={"Retry-After": "1"}) from None

    async def wait(self, job: Job):
        """The job's result; an error event is raised as the APIError it carries."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                while True:
                    kind, *data = await job.events.get()
                    if kind == "done":
                        return data[0]
                    if kind == "error":
                        raise data[0]
        except TimeoutError:
            raise APIError(504, f"no answer within {self.settings.timeout:g} s; the request was cancelled",
                           "server_error", code="timeout") from None
        finally:
            job.cancelled = True  # a no-op when done; otherwise the worker skips what is left of it


def default_runners() -> dict:
    return {"generate": run_generation, "classify": run_classification, "generate_gguf": run_gguf_generation,
            "classify_onnx": run_onnx_classification}


def create_app(pool, settings: ServeSettings, runners: dict | None = None) -> FastAPI:
    """The API over `pool`; `runners` replaces how batches run (tests use it to hold the worker)."""
    metrics = Metrics()
    engine = Engine(metrics, runners or default_runners(), settings.max_queue, settings.max_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine.start()
        yield
        engine.stop()

    app = FastAPI(title="tunesmith", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.serve = ServerState(pool, engine, settings, metrics)
    install_error_handlers(app)
    app.include_router(completions.router)
    app.include_router(classify.router)
    _add_info_routes(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(ApiKeyGuard, key=settings.api_key)
    app.add_middleware(RequestMetrics, metrics=metrics)  # outermost: 401s and 413s are counted too
    return app


def _model_card(served) -> dict:
    return {"id": served.name, "object": "model", "created": served.created, "owned_by": "tunesmith"}


def _add_info_routes(app: FastAPI) -> None:
    @app.get("/v1/models")
    async def list_models(request: Request):
        pool = request.app.state.serve.pool
        return {"object": "list", "data": [_model_card(m) for m in pool.by_name.values()]}

    @app.get("/v1/models/{name:path}")
    async def get_model(name: str, request: Request):
        pool = request.app.state.serve.pool
        if name not in pool.by_name:
            raise APIError(404, f"the model '{name}' does not exist on this server", param="model",
                           code="model_not_found")
        return _model_card(pool.by_name[name])

    @app.get("/health")
    async def health(request: Request):
        state = request.app.state.serve
        return {"status": "ok", "models": state.pool.names(), "base_models_in_memory": state.pool.base_models(),
                "queue_depth": state.engine.queue.depth()}

    @app.get("/metrics")
    async def metrics(request: Request):
        state = request.app.state.serve
        return Response(state.metrics.render(), media_type=state.metrics.content_type)
