"""Where a route's database work runs: on the event loop for SQLite, in the threadpool otherwise.

Measured (scripts/bench_fraud_service.py, machine under load): handing /predict to the threadpool
costs two thread wake-ups, which took longer than the whole prediction (~0.4 ms in-process). On SQLite
that work is a few reads of pages usually already in memory and one commit that does not fsync
(WAL with synchronous=NORMAL, see app/db/engine.py), so running it inline blocks the loop for about as
long as a hop would have. Within one process all inline SQLite work runs on the loop thread, one
request at a time, so it never waits for its own lock; it can only wait (briefly: one short write
transaction) for /predict/batch in the threadpool or another worker process.

PostgreSQL answers over a socket, and a slow statement or a lock wait there would stall every
request, /health included, so its work always goes to the threadpool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
R = TypeVar("R")


async def on_database(db: Engine, work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``work`` (short, bounded database work) where it costs the request least."""
    if db.dialect.name == "sqlite":
        return work(*args, **kwargs)
    return await run_in_threadpool(work, *args, **kwargs)
