"""Dependencies of the routes: the loaded model, the database, and the internal caller check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Engine

from app.api.errors import ApiError
from app.core.config import settings
from app.risk_engine import RiskEngine


def _risk_engine(request: Request) -> RiskEngine:
    return request.app.state.risk_engine


def _database(request: Request) -> Engine:
    return request.app.state.db


def require_internal_token(
    x_internal_token: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    if not x_internal_token:
        raise ApiError(401, "X-Internal-Token", "missing internal token")
    # Constant time: response timing must not reveal how much of a guess was right.
    if not hmac.compare_digest(x_internal_token.encode(), settings.INTERNAL_TOKEN.encode()):
        raise ApiError(401, "X-Internal-Token", "invalid internal token")


RiskEngineDep = Annotated[RiskEngine, Depends(_risk_engine)]
DatabaseDep = Annotated[Engine, Depends(_database)]
InternalCaller = Depends(require_internal_token)
