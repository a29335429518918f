"""OpenAI-style error bodies for every failure: {"error": {"message", "type", "param", "code"}}, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("tunesmith.serve")


class APIError(Exception):
    """A request the server answers with an error status and an OpenAI-style body."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def describe_validation_error(error: dict) -> APIError:
    """One readable line for the first problem pydantic found, naming the field the way the client sent it."""
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    # Union members show up in the location as type names ("str", "list[TextPart]"); the client never wrote those.
    param = ".".join(p for p in location if not any(c in p for c in "[]") and p not in ("str", "int", "float"))
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "malformed JSON")
        return APIError(400, f"the request body is not valid JSON ({reason})", code="invalid_json")
    if error.get("type") == "extra_forbidden":
        return APIError(400, f"unrecognized request argument supplied: {param}", param=param)
    if not param and error.get("type") in ("missing", "model_attributes_type", "dict_type"):
        return APIError(400, "the request body must be a JSON object (and Content-Type: application/json)",
                        code="invalid_body")
    return APIError(400, f"{param or 'body'}: {error.get('msg', 'invalid value')}", param=param or None)


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return exc.response()


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    return describe_validation_error(errors[0] if errors else {}).response()


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return APIError(exc.status_code, message, kind, headers=getattr(exc, "headers", None)).response()


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return APIError(500, "internal server error; the server log has the details", "server_error").response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
