"""Database helpers both services use: the URL as SQLAlchemy needs it, a tuned SQLite engine, autocommit on
PostgreSQL, where short work runs, a liveness query."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from fastapi_plumbing.prepared import PREPARED_NAMES, STATEMENT_BOUND
from fastapi_plumbing.wal_checkpoints import start_checkpoints

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


def sqlite_engine(url: str, *, foreign_keys: bool = False, **kwargs: Any) -> Engine:
    """The SQLite engine of both services (the embedded default; PostgreSQL is the path to scale); kwargs go
    to ``create_engine``."""
    database = make_url(url).database
    on_disk = bool(database) and database != ":memory:" and not database.startswith("file:")
    if on_disk:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Threads (the threadpool, the event loop) wait for a concurrent writer instead of failing at once.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed during a write. NORMAL syncs at checkpoints instead of on every commit:
        # a committed transaction survives a crash or kill of the process, and only a power loss of the
        # machine can roll back the last commits (an fsync per commit was costly: docs/performance.md).
        # Deployments that need power-loss durability run on PostgreSQL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if foreign_keys:
            cursor.execute("PRAGMA foreign_keys=ON")
        # The default page cache (2 MiB) holds a random-key index's pages only while the table is small; at
        # a million rows most inserts and lookups would read pages back through syscalls
        # (docs/performance.md). Memory-mapped reads and a 64 MiB cache per connection keep them in
        # memory; both are allocated only as pages are touched.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()

    if on_disk:  # commits on the event loop never wait for a checkpoint's fsyncs (fastapi_plumbing/wal_checkpoints.py)
        start_checkpoints(engine, database)
    return engine


@contextlib.contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """A connection whose every statement commits on its own on PostgreSQL; an ordinary transaction on SQLite.

    On PostgreSQL that saves the BEGIN and COMMIT round trips (at READ COMMITTED each statement takes its
    own snapshot inside a transaction too, so for one-statement writes and plain reads they change nothing):
    psycopg2's autocommit flag, set on the driver's connection for this use only. SQLAlchemy's
    isolation_level="AUTOCOMMIT" would do the same but reset it with a SET statement on every check-in, a
    round trip per use. SQLite: in-process, nothing to save.
    """
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            yield connection
        return
    own = _ON_LOOP.get()
    if own is not None and own[0] is engine:  # the loop's own connection: autocommit already, not pooled
        yield own[1]
        return
    with engine.connect() as connection:
        driver = connection.connection.dbapi_connection
        driver.autocommit = True  # type: ignore[union-attr]
        try:
            yield connection
        finally:
            if not driver.closed:  # type: ignore[union-attr] - a connection lost meanwhile is discarded
                driver.autocommit = False  # type: ignore[union-attr]


def _engine(bind: Engine | sessionmaker[Session]) -> Engine:
    return bind if isinstance(bind, Engine) else bind.kw["bind"]


class Load:
    """What this worker process has in flight: HTTP requests (counted by ``RequestContextMiddleware``) and
    database work in the threadpool (``in_threadpool``). Read on the event loop only, never locked."""
    requests = 0
    in_threads = 0


async def on_database(bind: Engine | sessionmaker[Session], work: Callable[P, R], *args: P.args,
                      **kwargs: P.kwargs) -> R:
    """Run short database work from an async route: inline on SQLite, in the threadpool otherwise.

    A threadpool hop costs two thread wake-ups, more than one SQLite read or write (pages in memory, WAL
    commit without fsync). Within one process all inline SQLite work runs on the loop thread, one request
    at a time, so it never waits on its own lock, only briefly on a threadpool route's short write.
    PostgreSQL answers over a socket, and a slow statement or lock wait there would stall every request,
    so its work goes to the threadpool (but see ``on_database_inline_when_idle``).
    """
    if _engine(bind).dialect.name == "sqlite":
        return work(*args, **kwargs)
    return await in_threadpool(work, *args, **kwargs)


async def in_threadpool(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``run_in_threadpool``, counted in ``Load.in_threads`` (use it for database work in threads)."""
    Load.in_threads += 1
    try:
        return await run_in_threadpool(work, *args, **kwargs)
    finally:
        Load.in_threads -= 1


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
# (engine, the loop's connection) while inline work runs on it: ``autocommit`` hands it out.
_ON_LOOP: ContextVar[tuple[Engine, Connection] | None] = ContextVar("on_loop", default=None)


async def keep_loop_connection(bind: Engine | sessionmaker[Session]) -> LoopConnection | None:
    """From the lifespan: open this worker's ``LoopConnection`` (PostgreSQL; None on SQLite); close it at
    shutdown."""
    engine = _engine(bind)
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
    engine = _engine(bind)
    if engine.dialect.name == "sqlite":
        return work(*args, **kwargs)
    if Load.requests > 1 or Load.in_threads:
        return await in_threadpool(work, *args, **kwargs)
    loop_connection = _LOOP_CONNECTIONS.get(engine)
    own = loop_connection.take() if loop_connection is not None else None
    if own is None and engine.pool.checkedin() == 0:  # type: ignore[attr-defined]
        return await in_threadpool(work, *args, **kwargs)
    token = _ON_LOOP.set((engine, own)) if own is not None else STATEMENT_BOUND.set(INLINE_STATEMENT_TIMEOUT_MS)
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
            _ON_LOOP.reset(token)  # type: ignore[arg-type]
            if own.in_transaction() and not own.invalidated:  # Connection.execute's autobegin; nothing to send
                own.rollback()
        else:
            STATEMENT_BOUND.reset(token)  # type: ignore[arg-type]
    return await in_threadpool(work, *args, **kwargs)


def database_answers(bind: Engine | sessionmaker[Session]) -> bool:
    try:
        with _engine(bind).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("database unreachable: %s", exc)
        return False
    return True
