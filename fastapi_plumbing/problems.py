"""RFC 9457 problem details: the one shape of every error response (see the README's "Errors").

`{"type": "about:blank", "title": <reason phrase>, "status", "detail", "instance": <path>, "code"}` as
`application/problem+json`, plus `errors: [{field, message}]` for validation errors. Routes and
dependencies raise `Problem` (an HTTPException, so FastAPI lets it through body parsing and
dependencies); the handlers installed here turn it, the framework's own 404/405/validation errors and
any unexpected exception into that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("app.errors")

# The code a client sees when the raiser named none: one per status.
DEFAULT_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
    422: "validation_error", 429: "rate_limited", 500: "internal_error", 502: "bad_gateway",
    503: "service_unavailable", 504: "gateway_timeout",
}
INTERNAL_ERROR_DETAIL = "The server failed to handle this request; the failure is logged under its X-Request-ID."
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


class Problem(HTTPException):
    """An error answered as problem details. `errors` only for validation; `extensions` become extra members."""

    def __init__(self, status: int, detail: str, *, code: str | None = None,
                 errors: Sequence[Mapping[str, str]] | None = None, headers: Mapping[str, str] | None = None,
                 **extensions: Any) -> None:
        super().__init__(status_code=status, detail=detail, headers=dict(headers) if headers else None)
        self.code = code or code_for(status)
        self.errors = list(errors) if errors is not None else None
        self.extensions = extensions


def code_for(status: int) -> str:
    if status in DEFAULT_CODES:
        return DEFAULT_CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(status: int, detail: str, instance: str, code: str | None = None,
                 errors: Sequence[Mapping[str, str]] | None = None, **extensions: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": title_for(status), "status": status,
                            "detail": detail, "instance": instance, "code": code or code_for(status)}
    if errors is not None:
        body["errors"] = [{"field": str(e["field"]), "message": str(e["message"])} for e in errors]
    body.update(extensions)
    return body


def problem_response(status: int, detail: str, instance: str, *, code: str | None = None,
                     errors: Sequence[Mapping[str, str]] | None = None, headers: Mapping[str, str] | None = None,
                     **extensions: Any) -> JSONResponse:
    headers = dict(headers or {})
    if status == 429:
        headers.setdefault("Retry-After", "1")  # a client told to slow down is told when to come back
    return JSONResponse(problem_body(status, detail, instance, code, errors, **extensions), status_code=status,
                        headers=headers, media_type=PROBLEM_JSON)


def field_name(loc: Sequence[Any]) -> str:
    """("body", "transactions", 3, "amount") -> "transactions.3.amount"; the body itself -> "body"."""
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _problem(request: Request, exc: HTTPException) -> JSONResponse:
    if isinstance(exc, Problem):
        return problem_response(exc.status_code, str(exc.detail), request.url.path, code=exc.code,
                                errors=exc.errors, headers=exc.headers, **exc.extensions)
    # The framework's own (404 unknown path, 405 wrong method) and any plain HTTPException.
    detail, headers = str(exc.detail), dict(exc.headers or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"Nothing is served at {request.url.path}."
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        allowed = headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}." if allowed else ".")
    return problem_response(exc.status_code, detail, request.url.path, headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method the request's path is served with, for `Allow`. Starlette's 405 names only the methods
    of the first route whose path matched (one route per method: `POST` alone for /transactions, which GET
    serves too), and a client that believed it would never find the others. Each method is tried against
    the app's routes through their public `matches` (FastAPI nests included routers, so the routes cannot
    simply be listed), on a copy of the request's scope."""
    def served(method: str) -> bool:
        scope = {**request.scope, "method": method, "fastapi": {}}
        return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)
    return ", ".join(method for method in _METHODS if served(method))


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if malformed is not None:
        where = malformed["loc"][1] if len(malformed["loc"]) > 1 else "?"
        reason = malformed.get("ctx", {}).get("error", "invalid JSON")
        message = f"malformed JSON at position {where}: {reason}"
        return problem_response(400, f"The request body is not valid JSON ({message}).", request.url.path,
                                code="malformed_json", errors=[{"field": "body", "message": message}])
    fields = [{"field": field_name(e["loc"]), "message": e["msg"].removeprefix("Value error, ")} for e in errors]
    named = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return problem_response(422, f"The request is invalid: {named}.", request.url.path,
                            code="validation_error", errors=fields)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Reached only when no RequestContextMiddleware answered first (it logs with the request id).
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, INTERNAL_ERROR_DETAIL, request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the app can answer becomes problem details, and its OpenAPI document says so."""
    app.add_exception_handler(HTTPException, _problem)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = lambda: _openapi_with_problems(app)  # type: ignore[method-assign]


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` only on validation errors (400 malformed JSON, 422).",
    "required": ["type", "title", "status", "detail", "instance", "code"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "description": "The HTTP reason phrase", "example": "Not Found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string", "description": "One sentence naming the problem"},
        "instance": {"type": "string", "description": "The request path", "example": "/transactions/42"},
        "code": {"type": "string", "description": "Machine-readable snake_case code", "example": "not_found"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string", "description": "Dotted field path"},
                               "message": {"type": "string"}},
            },
        },
    },
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's shape, never sent by these services
        components.pop(name, None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status != "default" and int(status) >= 400:
                    response["content"] = _PROBLEM_CONTENT
            responses["default"] = {"description": "Any other error, as problem details", "content": _PROBLEM_CONTENT}
    app.openapi_schema = schema
    return schema
