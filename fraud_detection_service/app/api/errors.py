"""One error shape for every 4xx: ``{"detail": [{"field": ..., "message": ...}]}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status_code: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.field, self.message = status_code, field, message


def _body(field: str, message: str) -> dict[str, Any]:
    return {"detail": [{"field": field, "message": message}]}


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "transactions", 3, "amount") -> "transactions.3.amount"; the body itself -> "body"
    parts = [str(part) for part in loc[1:]] if loc and loc[0] == "body" else [str(p) for p in loc]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.field, exc.message), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if malformed is not None:
            where = malformed["loc"][1] if len(malformed["loc"]) > 1 else "?"
            error = malformed.get("ctx", {}).get("error", "invalid JSON")
            return JSONResponse(_body("body", f"malformed JSON at position {where}: {error}"), status_code=400)
        detail = [
            {"field": _field_name(tuple(e["loc"])), "message": e["msg"].removeprefix("Value error, ")}
            for e in errors
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        field = "body" if exc.status_code == 413 else "request"
        return JSONResponse(_body(field, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)
