"""``on_database_inline_when_idle``: PostgreSQL work on the event loop only while the worker serves nothing
else and a pooled connection is idle; there a statement past the bound gives the loop back within
``INLINE_STATEMENT_TIMEOUT_MS`` and the work runs again in the threadpool, as it always did.

PostgreSQL tests run against the server at POSTGRES_URL (tests/test_pool.py's database fixture)."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg2
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from fastapi_plumbing.database import Load, autocommit
from fastapi_plumbing.loop_reads import INLINE_STATEMENT_TIMEOUT_MS, keep_loop_connection, on_database_inline_when_idle
from fastapi_plumbing.pool import PoolSettings, postgres_engine
from fastapi_plumbing.prepared import STATEMENT_BOUND, Prepared
from fastapi_plumbing.tests.test_pool import database_url  # noqa: F401 - the fixture

metadata = MetaData()
counts = Table("counts", metadata, Column("id", Integer, primary_key=True), Column("n", Integer))
read_n = select(counts.c.n).where(counts.c.id == 1)


@pytest.fixture
def engine(database_url):  # noqa: F811
    engine = postgres_engine(database_url, PoolSettings(size=2, threadpool_size=2))
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(insert(counts), [{"id": 1, "n": 7}])
    yield engine
    engine.dispose()


def _read(engine, statement: Prepared) -> tuple[int, int]:
    """The row's n, and the thread that read it."""
    with autocommit(engine) as conn:
        return statement.rows(conn, {})[0][0], threading.get_ident()


async def _where(engine, statement: Prepared, *, requests: int = 1, in_threads: int = 0) -> str:
    before = Load.requests, Load.in_threads
    Load.requests, Load.in_threads = requests, in_threads
    try:
        n, thread = await on_database_inline_when_idle(engine, _read, engine, statement)
    finally:
        Load.requests, Load.in_threads = before
    assert n == 7
    return "loop" if thread == threading.get_ident() else "threadpool"


def test_inline_only_when_alone_with_an_idle_connection(engine):
    statement = Prepared.compile(read_n, engine.dialect)

    async def main() -> list[str]:
        first = await _where(engine, statement)  # the pool holds the fixture's connection, idle
        return [first, await _where(engine, statement, requests=2), await _where(engine, statement, in_threads=1),
                await _where(engine, statement)]

    assert asyncio.run(main()) == ["loop", "threadpool", "threadpool", "loop"]


def test_no_connect_on_the_loop(database_url):  # noqa: F811
    engine = postgres_engine(database_url, PoolSettings(size=1, threadpool_size=1))
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(insert(counts), [{"id": 1, "n": 7}])
        engine.dispose()  # the pool is empty: the next use connects
        statement = Prepared.compile(read_n, engine.dialect)

        async def main() -> list[str]:
            return [await _where(engine, statement), await _where(engine, statement)]

        assert asyncio.run(main()) == ["threadpool", "loop"]
    finally:
        engine.dispose()


def test_sqlite_runs_inline_as_on_database(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(insert(counts), [{"id": 1, "n": 7}])
    statement = Prepared.compile(read_n, engine.dialect)
    assert asyncio.run(_where(engine, statement, requests=5)) == "loop"


@pytest.mark.parametrize("own_connection", [False, True], ids=["pooled", "loop's own"])
def test_a_locked_table_holds_the_loop_only_for_the_bound_then_the_work_answers_from_the_threadpool(
        engine, own_connection):
    statement = Prepared.compile(read_n, engine.dialect)
    loop_connection = asyncio.run(keep_loop_connection(engine)) if own_connection else None
    # Prepared on the connection the loop uses: the locked read is an EXECUTE.
    assert asyncio.run(_where(engine, statement)) == "loop"
    locker = psycopg2.connect(engine.url.render_as_string(hide_password=False).replace("+psycopg2", ""))
    held_s = 1.0
    try:
        locker.cursor().execute("BEGIN; LOCK TABLE counts IN ACCESS EXCLUSIVE MODE")
        threading.Timer(held_s, locker.rollback).start()

        async def main() -> tuple[str, float, float]:
            gaps = []

            async def tick() -> None:  # what /health would see: how long the loop is held at a time
                last = time.perf_counter()
                while True:
                    await asyncio.sleep(0.005)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            ticker = asyncio.create_task(tick())
            await asyncio.sleep(0.02)
            started = time.perf_counter()
            where = await _where(engine, statement)
            waited = time.perf_counter() - started
            ticker.cancel()
            return where, waited, max(gaps)

        where, waited, longest_hold = asyncio.run(main())
    finally:
        locker.close()
        if loop_connection is not None:
            asyncio.run(loop_connection.close())
    assert where == "threadpool"  # past the bound on the loop, answered (7) from the threadpool
    assert waited >= held_s * 0.9  # it waited for the lock there, as before: no error
    # The loop was held for the bound, not for the lock (slack for a loaded 2-core machine).
    assert INLINE_STATEMENT_TIMEOUT_MS / 1000 * 0.8 <= longest_hold < 0.4


def test_the_bound_is_this_statement_s_only(engine):
    statement = Prepared.compile(read_n, engine.dialect)
    asyncio.run(_where(engine, statement))
    with engine.connect() as conn:  # the connection the loop used: its session's timeout is untouched
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
    assert STATEMENT_BOUND.get() is None


def _session(engine) -> tuple[int, str, int]:
    """The session's backend pid and statement_timeout, and how many pooled connections are checked out."""
    with autocommit(engine) as conn:
        pid, timeout = conn.exec_driver_sql("SELECT pg_backend_pid(), current_setting('statement_timeout')").one()
    return pid, timeout, engine.pool.checkedout()


async def _inline(engine, work, *args):
    before = Load.requests, Load.in_threads
    Load.requests, Load.in_threads = 1, 0
    try:
        return await on_database_inline_when_idle(engine, work, engine, *args)
    finally:
        Load.requests, Load.in_threads = before


def test_the_loop_s_own_connection_is_bounded_outside_the_pool_whose_sessions_stay_unbounded(engine):
    async def main():
        loop_connection = await keep_loop_connection(engine)
        try:
            return await _inline(engine, _session), loop_connection.connection is not None
        finally:
            await loop_connection.close()

    (_pid, timeout, pooled_in_use), kept = asyncio.run(main())
    assert kept
    assert timeout == f"{INLINE_STATEMENT_TIMEOUT_MS}ms"  # the bound, on its session
    assert pooled_in_use == 0  # not a pooled connection: no checkout
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
    assert STATEMENT_BOUND.get() is None


def test_a_lost_loop_connection_falls_back_to_the_threadpool_and_is_reopened(engine):
    statement = Prepared.compile(read_n, engine.dialect)

    async def main():
        loop_connection = await keep_loop_connection(engine)
        try:
            first, _, _ = await _inline(engine, _session)
            assert await _where(engine, statement) == "loop"  # prepared on it
            killer = psycopg2.connect(engine.url.render_as_string(hide_password=False).replace("+psycopg2", ""))
            killer.autocommit = True
            killer.cursor().execute("SELECT pg_terminate_backend(%s)", (first,))
            killer.close()
            after_loss = await _where(engine, statement)  # answered (7) all the same
            for _ in range(100):  # reopened in a thread meanwhile
                if loop_connection.connection is not None:
                    break
                await asyncio.sleep(0.02)
            second, timeout, pooled_in_use = await _inline(engine, _session)
            return first, after_loss, second, timeout, pooled_in_use, await _where(engine, statement)
        finally:
            await loop_connection.close()

    first, after_loss, second, timeout, pooled_in_use, prepared_again = asyncio.run(main())
    assert after_loss == "threadpool"
    assert second != first and pooled_in_use == 0  # a fresh session of its own
    assert timeout == f"{INLINE_STATEMENT_TIMEOUT_MS}ms"
    assert prepared_again == "loop"  # the statement prepared anew on the new session


def test_no_loop_connection_without_prepared_statements(database_url):  # noqa: F811
    """DB_PREPARED_STATEMENTS=off means a pooler may share server sessions: no session-level SET there."""
    engine = postgres_engine(database_url, PoolSettings(size=1, threadpool_size=1, prepared_statements=False))
    try:
        assert asyncio.run(keep_loop_connection(engine)) is None
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
    finally:
        engine.dispose()
