"""Database helpers both services use: the URL as SQLAlchemy needs it, a tuned SQLite engine, autocommit on
PostgreSQL, where short work runs, a liveness query."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

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


# (engine, the event loop's own connection) while inline work runs on it (fastapi_plumbing/loop_reads.py):
# ``autocommit`` hands it out.
ON_LOOP: ContextVar[tuple[Engine, Connection] | None] = ContextVar("on_loop", default=None)


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
    own = ON_LOOP.get()
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


def engine_of(bind: Engine | sessionmaker[Session]) -> Engine:
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
    so its work goes to the threadpool (but see ``fastapi_plumbing.loop_reads``).
    """
    if engine_of(bind).dialect.name == "sqlite":
        return work(*args, **kwargs)
    return await in_threadpool(work, *args, **kwargs)


async def in_threadpool(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``run_in_threadpool``, counted in ``Load.in_threads`` (use it for database work in threads)."""
    Load.in_threads += 1
    try:
        return await run_in_threadpool(work, *args, **kwargs)
    finally:
        Load.in_threads -= 1


def database_answers(bind: Engine | sessionmaker[Session]) -> bool:
    try:
        with engine_of(bind).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("database unreachable: %s", exc)
        return False
    return True
