"""PostgreSQL reads on the event loop while the worker serves nothing else (``on_database_inline_when_idle``),
bounded by ``statement_timeout``, on the worker's own connection (``LoopConnection``) when it has one.

For a read of a few hundred microseconds a threadpool hop overlaps nothing when it is the worker's only
request (docs/performance.md, "`/predict` ÷ `/health` on an idle service"); under concurrency the work goes
to the threadpool as ``fastapi_plumbing.database.on_database`` sends it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fastapi_plumbing.database import ON_LOOP, Load, engine_of, in_threadpool
from fastapi_plumbing.prepared import PREPARED_NAMES, STATEMENT_BOUND

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("app.database")


# The bound of a PostgreSQL statement run on the event loop: the longest a stalled server (a lock held on
# the table, an overloaded server) holds every other request of the worker, /health included.
INLINE_STATEMENT_TIMEOUT_MS = 50
# The server's answer to a statement past that bound (statement_timeout; a cancel request answers it too).
_QUERY_CANCELED = "57014"


class LoopConnection:
    """PostgreSQL: the connection the event loop keeps for its reads while the worker is idle
    (``on_database_inline_when_idle``), one per worker, held outside the pool's checkout and return.

    It spares each inline read the checkout, the autocommit toggles and the return (~75 µs paced) and the
    per-statement ``SET LOCAL`` (~25 µs): autocommit and ``statement_timeout`` (the inline bound) are set
    once on its session. Its own pool (the engine's connect options and events, so one more connection per
    worker) keeps the pooled connections' sessions unbounded. Opened and reopened in a thread, never on the
    loop: while it is missing (being opened, or lost and waiting ``RETRY_S``) the reads go the pooled way.
    """
    RETRY_S = 1.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._own = Engine(engine.pool.recreate(), engine.dialect, engine.url)  # type: ignore[attr-defined]
        self.connection: Connection | None = None
        self._opening: asyncio.Task[None] | None = None
        self._retry_at = 0.0

    def _open(self) -> Connection:
        connection = self._own.connect()
        try:
            driver = connection.connection.dbapi_connection
            driver.autocommit = True  # type: ignore[union-attr]
            cursor = driver.cursor()  # type: ignore[union-attr]
            # Named in pg_stat_activity beside the pool's sessions (what an operator or a test looks for).
            cursor.execute(f"SET statement_timeout = {INLINE_STATEMENT_TIMEOUT_MS:d}; SELECT set_config("
                           f"'application_name', current_setting('application_name') || '{LOOP_APPLICATION}', false)")
            cursor.close()
        except BaseException:
            connection.invalidate()
            connection.close()
            raise
        return connection

    async def open(self) -> None:
        """Connect in a thread; on failure log, and the next ``take`` after ``RETRY_S`` tries again."""
        try:
            self.connection = await run_in_threadpool(self._open)
        except SQLAlchemyError as exc:
            logger.warning("no event-loop connection to the database: %s", exc)
            self._retry_at = time.monotonic() + self.RETRY_S
        finally:
            self._opening = None

    def take(self) -> Connection | None:
        """The connection, or None (then an open is started in the background unless one is due later)."""
        if self.connection is None and self._opening is None and time.monotonic() >= self._retry_at:
            self._opening = asyncio.get_running_loop().create_task(self.open())
        return self.connection

    def discard(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to tell the server
                connection.invalidate()
                connection.close()

    async def close(self) -> None:
        """The lifespan's shutdown (a reload too): the session ends, its pool is disposed."""
        if self._opening is not None:
            await self._opening
        self.discard()
        _LOOP_CONNECTIONS.pop(self.engine, None)
        self._own.dispose()


# Appended to the session's application_name on the loop's own connection.
LOOP_APPLICATION = " (event loop)"
_LOOP_CONNECTIONS: dict[Engine, LoopConnection] = {}


async def keep_loop_connection(bind: Engine | sessionmaker[Session]) -> LoopConnection | None:
    """From the lifespan: open this worker's ``LoopConnection`` (PostgreSQL; None on SQLite); close it at
    shutdown."""
    engine = engine_of(bind)
    if engine.dialect.name != "postgresql":
        return None
    loop_connection = LoopConnection(engine)
    await loop_connection.open()
    connection = loop_connection.connection
    if connection is not None and connection.connection.info.get(PREPARED_NAMES, ()) is None:
        # DB_PREPARED_STATEMENTS=off: a transaction-pooling PgBouncer would hand its session-level SET to
        # other clients; the pooled way's SET LOCAL stays inside the statement's own transaction.
        await loop_connection.close()
        return None
    _LOOP_CONNECTIONS[engine] = loop_connection
    return loop_connection


async def on_database_inline_when_idle(bind: Engine | sessionmaker[Session], work: Callable[P, R], *args: P.args,
                                       **kwargs: P.kwargs) -> R:
    """``on_database``, but on PostgreSQL inline on the event loop while the worker serves nothing else.

    For a read of a few hundred microseconds the threadpool hop (two thread wake-ups, ~50 µs warm and more
    on a worker idle for milliseconds) overlaps nothing when this is the worker's only request
    (docs/performance.md). Inline only when: this is the only HTTP request in flight (``Load.requests``
    ≤ 1), no database work is in the threadpool, and either the worker's ``LoopConnection`` is open (its
    session's ``statement_timeout`` is the bound) or the pool has an idle connection (no connect on the
    loop; each prepared statement then runs with ``SET LOCAL statement_timeout``, ``STATEMENT_BOUND``). So a
    stalled server holds the loop at most ``INLINE_STATEMENT_TIMEOUT_MS``; past it, or when the loop's
    connection is found broken (then discarded, and reopened in a thread), the work runs again in the
    threadpool, as always before, unbounded. So ``work`` must be safe to run again after a failed statement
    (a read, or writes in one transaction). Under concurrency everything goes to the threadpool as before.
    """
    engine = engine_of(bind)
    if engine.dialect.name == "sqlite":
        return work(*args, **kwargs)
    if Load.requests > 1 or Load.in_threads:
        return await in_threadpool(work, *args, **kwargs)
    loop_connection = _LOOP_CONNECTIONS.get(engine)
    own = loop_connection.take() if loop_connection is not None else None
    if own is None and engine.pool.checkedin() == 0:  # type: ignore[attr-defined]
        return await in_threadpool(work, *args, **kwargs)
    token = ON_LOOP.set((engine, own)) if own is not None else STATEMENT_BOUND.set(INLINE_STATEMENT_TIMEOUT_MS)
    try:
        return work(*args, **kwargs)
    except (engine.dialect.loaded_dbapi.Error, DBAPIError) as exc:
        if own is not None and (own.invalidated or own.connection.dbapi_connection.closed):  # type: ignore[union-attr]
            logger.warning("the event loop's database connection is broken (%s); running the work in the "
                           "threadpool", exc)
            loop_connection.discard()  # type: ignore[union-attr]
            loop_connection.take()  # type: ignore[union-attr] - reopens it in a thread meanwhile
        elif getattr(getattr(exc, "orig", exc), "pgcode", None) != _QUERY_CANCELED:
            raise
        else:
            logger.warning("database work past %d ms on the event loop; running it in the threadpool",
                           INLINE_STATEMENT_TIMEOUT_MS)
    finally:
        if own is not None:
            ON_LOOP.reset(token)  # type: ignore[arg-type]
            if own.in_transaction() and not own.invalidated:  # Connection.execute's autobegin; nothing to send
                own.rollback()
        else:
            STATEMENT_BOUND.reset(token)  # type: ignore[arg-type]
    return await in_threadpool(work, *args, **kwargs)
