"""PostgreSQL connection pools sized to what one worker serves, kept open, checked only after idling.

On PostgreSQL each request's database work runs in the threadpool (`on_database`), so a worker never uses more
connections at once than it has threads (the one exception, `on_database_inline_when_idle` on the event loop,
runs only when no database work is in the threadpool, on the worker's `LoopConnection`, one more connection
outside this pool: a worker holds at most size + overflow + 1). The pool keeps
that many connections open (`DB_POOL_SIZE`) and the threadpool is limited to the same number
(`THREADPOOL_SIZE`, default `DB_POOL_SIZE`): more concurrent requests queue for a thread on the event loop
instead of taking a connection from an overflow that would be opened and closed again (each a forked
PostgreSQL backend: 78-258 new sessions a second measured under load with pools of 5-10 + 10 overflow and 16
concurrent requests). `DB_MAX_OVERFLOW` (default 0) allows such extra connections for other threadpool work.

A connection is checked with `SELECT 1` only when it was idle for `DB_PING_AFTER_IDLE_SECONDS` (default
30): SQLAlchemy's `pool_pre_ping` pings on every checkout, one round trip per request for nothing under
load, and a connection in steady use is proven alive by its last statement. A failed check replaces the
connection before the request uses it.

`DB_PREPARED_STATEMENTS` (default `on`) prepares the statements run through `fastapi_plumbing.prepared` on
the server, once per connection; `off` sends them as text, for a PgBouncer in transaction pooling mode
(DEPLOYMENT.md, "PostgreSQL connections").
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError

from fastapi_plumbing.prepared import PREPARED_NAMES


@dataclass(frozen=True)
class PoolSettings:
    size: int = 10
    max_overflow: int = 0
    ping_after_idle_s: float = 30.0
    threadpool_size: int = 10
    prepared_statements: bool = True

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PoolSettings:
        def number(name: str, default: str, kind: type = int) -> Any:
            raw = environ.get(name, "").strip() or default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if value < 0 or (name in ("DB_POOL_SIZE", "THREADPOOL_SIZE") and value < 1):
                raise ValueError(f"{name} must be positive, got {raw!r}")
            return value

        prepared = (environ.get("DB_PREPARED_STATEMENTS", "").strip() or "on").lower()
        if prepared not in _SWITCH:
            raise ValueError(f"DB_PREPARED_STATEMENTS must be on or off, got {prepared!r}")
        size = number("DB_POOL_SIZE", "10")
        return cls(size=size, max_overflow=number("DB_MAX_OVERFLOW", "0"),
                   ping_after_idle_s=number("DB_PING_AFTER_IDLE_SECONDS", "30", float),
                   threadpool_size=number("THREADPOOL_SIZE", str(size)), prepared_statements=_SWITCH[prepared])


_SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def postgres_engine(url: str | URL, pool: PoolSettings, **kwargs: Any) -> Engine:
    engine = create_engine(url, pool_size=pool.size, max_overflow=pool.max_overflow, pool_pre_ping=False, **kwargs)
    _ping_after_idle(engine, pool.ping_after_idle_s)
    if not pool.prepared_statements:
        @event.listens_for(engine, "connect")
        def _text_statements(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
            record.info[PREPARED_NAMES] = None

    return engine


def limit_threadpool(pool: PoolSettings) -> None:
    """Threads the routes' blocking work may use at once in this worker (call from the lifespan)."""
    to_thread.current_default_thread_limiter().total_tokens = pool.threadpool_size


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check_after_idle(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()  # ends the transaction the driver opened for the check
        except dbapi_error as exc:
            raise DisconnectionError(f"connection idle {time.monotonic() - idle_since:.0f} s is gone") from exc
