"""One JSON error shape for every failure: {"detail": "...", "errors": [{"field", "message"}]}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def _field_name(loc: tuple) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in _LOCATIONS and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def validation_error_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return JSONResponse(
            status_code=400,
            content={"detail": "Malformed JSON body",
                     "errors": [{"field": "body", "message": errors[0].get("msg", "invalid JSON")}]},
        )
    return JSONResponse(
        status_code=422,
        content={
            "detail": "Validation failed: " + ", ".join(_field_name(error["loc"]) for error in errors),
            "errors": [
                {"field": _field_name(error["loc"]), "location": str(error["loc"][0]) if error["loc"] else "body",
                 "message": error["msg"].removeprefix("Value error, ")}
                for error in errors
            ],
        },
    )


async def unhandled_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": "Internal server error"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
