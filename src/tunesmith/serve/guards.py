"""ASGI middleware around the API: request metrics, the API key, and the request body size limit.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which buffers responses and would break streaming.
"""

from __future__ import annotations

import hmac
import time

from tunesmith.serve.errors import APIError

ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/classify", "/health", "/metrics")


def route_label(path: str) -> str:
    """A bounded set of metric labels: random paths from scanners must not create new time series."""
    if path in ROUTES:
        return path
    return "/v1/models/{id}" if path.startswith("/v1/models/") else "other"


class RequestMetrics:
    def __init__(self, app, metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe_request(route_label(scope["path"]), status, time.perf_counter() - started)


class ApiKeyGuard:
    """Every route but /health needs `Authorization: Bearer <key>` when the server has a key."""

    def __init__(self, app, key: str | None, open_paths: tuple[str, ...] = ("/health",)):
        self.app, self.key, self.open_paths = app, key.encode() if key else None, open_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.key and scope["path"] not in self.open_paths:
            header = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, token = header.partition(b" ")
            # compare_digest takes the same time wherever the first wrong byte is, so timing leaks nothing.
            if not (scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key)):
                message = ("incorrect API key provided" if header
                           else "missing API key: send Authorization: Bearer <key>")
                error = APIError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
                return await error.response()(scope, receive, send)
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, whether or not the client declared a Content-Length."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:  # chunked uploads have no Content-Length to check up front
                return await self._too_large(scope, receive, send)
        await self.app(scope, self._replay(bytes(body), receive), send)

    @staticmethod
    def _replay(body: bytes, receive):
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()  # later calls wait for http.disconnect, which streaming responses watch
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _too_large(self, scope, receive, send):
        error = APIError(413, f"request body is larger than this server's limit of {self.max_bytes} bytes",
                         code="request_too_large")
        await error.response()(scope, receive, send)
