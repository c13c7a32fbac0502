"""Database helpers both services use: the URL as SQLAlchemy needs it, where short work runs, a liveness query."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("app.database")


def sqlalchemy_url(url: str) -> str:
    """Compose/Kubernetes/Heroku-style URLs (`postgres://`, `postgresql://`) name no driver, and SQLAlchemy
    2.1 would then pick psycopg 3; psycopg2 is the driver installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


def _engine(bind: Engine | sessionmaker[Session]) -> Engine:
    return bind if isinstance(bind, Engine) else bind.kw["bind"]


async def on_database(bind: Engine | sessionmaker[Session], work: Callable[P, R], *args: P.args,
                      **kwargs: P.kwargs) -> R:
    """Run short database work from an async route: inline on SQLite, in the threadpool otherwise.

    A threadpool hop costs two thread wake-ups, more than one SQLite read or write (pages in memory, WAL
    commit without fsync). Within one process all inline SQLite work runs on the loop thread, one request
    at a time, so it never waits on its own lock, only briefly on a threadpool route's short write.
    PostgreSQL answers over a socket, and a slow statement or lock wait there would stall every request,
    so its work goes to the threadpool.
    """
    if _engine(bind).dialect.name == "sqlite":
        return work(*args, **kwargs)
    return await run_in_threadpool(work, *args, **kwargs)


def database_answers(bind: Engine | sessionmaker[Session]) -> bool:
    try:
        with _engine(bind).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("database unreachable: %s", exc)
        return False
    return True
