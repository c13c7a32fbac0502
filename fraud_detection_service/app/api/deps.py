"""Dependencies of the routes: the loaded model, the database, and the internal caller check.

All ``async def`` although none awaits: FastAPI runs a plain ``def`` dependency in the threadpool, and
each such hop cost more wall time than the whole model (profiled: three hops were ~40% of /predict).
None of them blocks, so they belong on the event loop.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from app.api.errors import ApiError
from app.core.config import settings
from app.model_slots import ModelSet, ModelSlots
from app.risk_engine import RiskEngine


async def _risk_engine(request: Request) -> RiskEngine:
    return request.app.state.models.champion


async def _model_set(request: Request) -> ModelSet:
    return request.app.state.models


async def _model_slots(request: Request) -> ModelSlots:
    return request.app.state.model_slots


async def _database(request: Request) -> Engine:
    return request.app.state.db


async def require_internal_token(request: Request) -> None:
    # The header read directly: a Header() parameter goes through FastAPI's parameter validation,
    # which cost more than everything else here on every /predict.
    x_internal_token = request.headers.get("x-internal-token")
    if not x_internal_token:
        raise ApiError(401, "X-Internal-Token", "missing internal token")
    # Constant time: response timing must not reveal how much of a guess was right.
    if not hmac.compare_digest(x_internal_token.encode(), settings.INTERNAL_TOKEN.encode()):
        raise ApiError(401, "X-Internal-Token", "invalid internal token")


RiskEngineDep = Annotated[RiskEngine, Depends(_risk_engine)]
ModelSetDep = Annotated[ModelSet, Depends(_model_set)]
ModelSlotsDep = Annotated[ModelSlots, Depends(_model_slots)]
DatabaseDep = Annotated[Engine, Depends(_database)]
InternalCaller = Depends(require_internal_token)
