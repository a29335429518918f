"""Serve models behind an OpenAI-compatible HTTP API (FastAPI + uvicorn): `serve(specs, settings)`."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from tunesmith.errors import UserError
from tunesmith.serve.app import ServeSettings, create_app
from tunesmith.serve.loading import load_models

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_port(host: str, port: int) -> None:
    """Fail with one clear line before loading any model, rather than after, when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port") from None


def serve(specs: list[str], settings: ServeSettings, log=print) -> None:
    """Load every model in `specs` and answer requests until Ctrl-C."""
    import uvicorn

    if not specs:
        raise UserError("nothing to serve", hint="tunesmith serve runs/<name> [more runs or exported folders]")
    check_port(settings.host, settings.port)
    pool = load_models(specs, log)
    if settings.host not in LOOPBACK and not settings.api_key:
        log(f"warning: listening on {settings.host} without an API key: anyone who can reach it can use the models "
            "(set --api-key or TUNESMITH_API_KEY)")
    log(f"serving {', '.join(pool.names())} at http://{settings.host}:{settings.port}/v1 "
        f"({pool.base_models()} model(s) in memory)")
    uvicorn.run(create_app(pool, settings), host=settings.host, port=settings.port, log_level="info")


@dataclass
class BackgroundServer:
    """A server on its own thread, for tests and benchmarks: `url` is ready when start_in_background returns."""

    server: object  # uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_in_background(app, host: str = "127.0.0.1", port: int = 0) -> BackgroundServer:
    """Run `app` on a thread; port 0 lets the OS pick a free port, read back once uvicorn is listening."""
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="tunesmith-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    return BackgroundServer(server, thread, f"http://{host}:{bound[1]}")


__all__ = ["BackgroundServer", "ServeSettings", "create_app", "load_models", "serve", "start_in_background"]
