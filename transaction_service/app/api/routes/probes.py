"""/health, /ready (the database answers) and /metrics, as the fraud service answers them."""

from __future__ import annotations

from fastapi import Request

from fastapi_plumbing.database import database_answers
from fastapi_plumbing.probes import probes_router


def _database(request: Request) -> bool:
    return database_answers(request.app.state.sessions)


router = probes_router({"database": (_database, "unreachable")})
