"""PostgreSQL pools keep their connections open under load, and replace one that died while idle; autocommit
work commits at once and leaves the pooled connection transactional.

Against the server at POSTGRES_URL (skipped without it; `make test-postgres` sets it and REQUIRE_POSTGRES=1
turns an unreachable server into a failure)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
from sqlalchemy import make_url, text

from fastapi_plumbing.database import autocommit, sqlalchemy_url
from fastapi_plumbing.pool import PoolSettings, postgres_engine
from fastapi_plumbing.testing import eventually

POSTGRES_URL = os.environ.get("POSTGRES_URL")


@pytest.fixture
def database_url():
    if not POSTGRES_URL:
        pytest.skip("POSTGRES_URL not set")
    try:
        admin = psycopg2.connect(POSTGRES_URL)
    except psycopg2.OperationalError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at POSTGRES_URL is unreachable: {exc}")
    admin.autocommit = True
    name = f"plumbing_pool_{uuid.uuid4().hex[:10]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(sqlalchemy_url(POSTGRES_URL)).set(database=name)
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _sessions_opened(url) -> int:
    """Sessions ever opened on the database (pg_stat_database, PostgreSQL 14+), read from another one."""
    connection = psycopg2.connect(POSTGRES_URL)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (url.database,))
        return cursor.fetchone()[0]
    finally:
        connection.close()


def test_a_busy_pool_opens_its_connections_once(database_url):
    engine = postgres_engine(database_url, PoolSettings(size=4, max_overflow=0, threadpool_size=4))
    all_checked_out = threading.Barrier(4)

    def hold(_):  # four requests in flight at once: the pool opens all four connections
        with engine.begin() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            all_checked_out.wait(timeout=60)
            return pid

    def work(_):
        with engine.begin() as conn:
            return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

    try:
        with ThreadPoolExecutor(4) as threads:
            opened = set(threads.map(hold, range(4)))
            assert len(opened) == 4
            # A backend reports its session to pg_stat_database up to ~10 s after it starts (idle flush).
            eventually(lambda: _sessions_opened(database_url) == 4, timeout=30, interval=0.5)
            backends = set(threads.map(work, range(2000)))
        assert backends <= opened  # every request in steady state ran on a connection opened at warm-up
        time.sleep(1.5)
        assert _sessions_opened(database_url) == 4  # and the server saw no other session start
    finally:
        engine.dispose()


def test_a_connection_that_died_while_idle_is_replaced_before_use(database_url):
    engine = postgres_engine(database_url, PoolSettings(size=1, ping_after_idle_s=0.2))
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as conn:  # the server ends the pooled backend (restart, idle timeout, proxy)
            conn.execute(text("SELECT 1")).scalar_one()
        killer = psycopg2.connect(POSTGRES_URL)
        killer.autocommit = True
        killer.cursor().execute("SELECT pg_terminate_backend(%s)", (first,))
        killer.close()
        time.sleep(0.4)
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


def test_pool_settings_come_from_the_environment_and_bad_values_are_named():
    settings = PoolSettings.from_environment({"DB_POOL_SIZE": "6", "DB_MAX_OVERFLOW": "2"})
    assert settings == PoolSettings(size=6, max_overflow=2, ping_after_idle_s=30.0, threadpool_size=6)
    assert PoolSettings.from_environment({"THREADPOOL_SIZE": "3"}).threadpool_size == 3
    with pytest.raises(ValueError, match="DB_POOL_SIZE"):
        PoolSettings.from_environment({"DB_POOL_SIZE": "0"})
    with pytest.raises(ValueError, match="DB_MAX_OVERFLOW"):
        PoolSettings.from_environment({"DB_MAX_OVERFLOW": "many"})


def test_autocommit_commits_each_statement_and_returns_the_connection_transactional(database_url):
    engine = postgres_engine(database_url, PoolSettings(size=1, max_overflow=0, threadpool_size=1))
    observer = psycopg2.connect(database_url.set(drivername="postgresql").render_as_string(hide_password=False))
    observer.autocommit = True

    def rows_seen_elsewhere() -> int:
        cursor = observer.cursor()
        cursor.execute("SELECT count(*) FROM marks")
        return cursor.fetchone()[0]

    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE marks (id int)"))
        with autocommit(engine) as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.execute(text("INSERT INTO marks VALUES (1)"))
            assert rows_seen_elsewhere() == 1  # committed by the statement itself, before the block ends
        with engine.connect() as conn:  # the pool's one connection, handed out again
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
            conn.execute(text("INSERT INTO marks VALUES (2)"))
            assert rows_seen_elsewhere() == 1  # autocommit is off again: this insert waits for a commit
            conn.rollback()
        assert rows_seen_elsewhere() == 1
    finally:
        observer.close()
        engine.dispose()
