"""Who may use the studio: an optional password (a login form sets an HttpOnly cookie), and protection against
other web sites driving it through the user's browser.

Without a password the studio listens on loopback only, where the remaining risk is a web page in the same browser
posting to 127.0.0.1 (cross-site request forgery) or a DNS name rebound to 127.0.0.1: so state-changing requests
must come from the studio's own pages (Origin/Referer), and the Host header must name the address it serves.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse, RedirectResponse

COOKIE = "tunesmith_studio"
OPEN_PATHS = ("/login", "/static/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def session_token(password: str) -> str:
    """The cookie value: derived from the password, so it stays valid across restarts and changes with it."""
    return hmac.new(password.encode(), b"tunesmith-studio-session", hashlib.sha256).hexdigest()


def password_matches(given: str, password: str) -> bool:
    return hmac.compare_digest(given.encode(), password.encode())


def _headers(scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _cookie(scope, name: str) -> str:
    raw = _headers(scope).get(b"cookie", b"").decode("latin-1")
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class StudioGuard:
    """ASGI middleware: Host check on loopback, same-origin check on writes, and the password when one is set."""

    def __init__(self, app, password: str | None, loopback_only: bool):
        self.app, self.password, self.loopback_only = app, password, loopback_only
        self.token = session_token(password) if password else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problem = self._problem(scope)
        if problem:
            return await PlainTextResponse(problem, status_code=403)(scope, receive, send)
        if self.token and not scope["path"].startswith(OPEN_PATHS):
            if not hmac.compare_digest(_cookie(scope, COOKIE), self.token):
                if scope["path"].startswith("/api/") or scope["method"] not in SAFE_METHODS:
                    response = PlainTextResponse("log in first: this studio has a password", status_code=401)
                else:
                    response = RedirectResponse("/login", status_code=303)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)

    def _problem(self, scope) -> str | None:
        headers = _headers(scope)
        host = headers.get(b"host", b"").decode("latin-1")
        if self.loopback_only and urlsplit(f"//{host}").hostname not in LOOPBACK_NAMES:
            return f"this studio answers only on loopback addresses, not '{host}'"
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get(b"origin", b"").decode("latin-1") or headers.get(b"referer", b"").decode("latin-1")
        if origin and urlsplit(origin).netloc != host:
            return "requests that change something must come from the studio's own pages"
        return None
