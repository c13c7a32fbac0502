"""Dependencies of the routes: the loaded model, the database, and the internal caller check.

All ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in the threadpool, and
each such hop cost more wall time than the whole model (profiled: three hops were ~40% of /predict).
None of them blocks, so they belong on the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader
from fastapi_plumbing.internal_token import internal_token_matches
from fastapi_plumbing.problems import Problem
from sqlalchemy import Engine

from app.core.config import settings
from app.services.model_slots import ModelSet, ModelSlots
from app.services.risk_engine import RiskEngine


async def _risk_engine(request: Request) -> RiskEngine:
    return request.app.state.models.champion


async def _model_set(request: Request) -> ModelSet:
    return request.app.state.models


async def _model_slots(request: Request) -> ModelSlots:
    return request.app.state.model_slots


async def _database(request: Request) -> Engine:
    return request.app.state.db


# The header as an OpenAPI security scheme, so that a client generated from the document sends it. The scheme
# only reads the header (no parameter validation); check_internal_token decides.
internal_token_header = APIKeyHeader(
    name="X-Internal-Token", scheme_name="InternalToken", auto_error=False,
    description="The shared secret of the services that call this one (`INTERNAL_TOKEN`).")

# What an internal route says of the header in its description, and answers without it or with a wrong one.
INTERNAL = "Requires the `X-Internal-Token` header (401 without it or with a wrong one)."
UNAUTHORISED = {401: {"description": "`missing_internal_token` or `invalid_internal_token`: the "
                                     "`X-Internal-Token` header is absent or wrong"}}


async def require_internal_token(x_internal_token: Annotated[str | None, Security(internal_token_header)]) -> None:
    check_internal_token(x_internal_token)


def check_internal_token(x_internal_token: str | None) -> None:
    """The 401 problems of an internal route; /predict's lean path calls it with the header it read."""
    if not x_internal_token:
        raise Problem(401, "This endpoint is internal: the X-Internal-Token header is missing.",
                      code="missing_internal_token")
    if not internal_token_matches(x_internal_token, settings.INTERNAL_TOKEN):
        raise Problem(401, "The X-Internal-Token header does not match this service's internal token.",
                      code="invalid_internal_token")


RiskEngineDep = Annotated[RiskEngine, Depends(_risk_engine)]
ModelSetDep = Annotated[ModelSet, Depends(_model_set)]
ModelSlotsDep = Annotated[ModelSlots, Depends(_model_slots)]
DatabaseDep = Annotated[Engine, Depends(_database)]
InternalCaller = Depends(require_internal_token)


def internal_router(*, prefix: str, tags: list[str], responses: dict[int | str, dict[str, Any]] | None = None
                    ) -> APIRouter:
    """A router whose every route requires the internal token and declares the 401 it answers without it."""
    return APIRouter(prefix=prefix, tags=tags, dependencies=[InternalCaller],
                     responses={**UNAUTHORISED, **(responses or {})})
