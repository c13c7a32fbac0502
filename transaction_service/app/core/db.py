"""Engine and session factory, built once in the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from fastapi_plumbing.database import sqlite_engine
from fastapi_plumbing.pool import PoolSettings, postgres_engine


def build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # A capture commits twice (stored, then decided): synchronous=NORMAL is what keeps that cheap.
        return sqlite_engine(url, foreign_keys=True)
    return postgres_engine(url, PoolSettings.from_environment())


def build_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def single_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for work that is one statement, committed on its own.

    On PostgreSQL that is one round trip instead of three (BEGIN, the statement, COMMIT): psycopg2's
    autocommit flag, set on the driver's connection for this use only. SQLAlchemy's
    isolation_level="AUTOCOMMIT" would do the same but reset it with a SET statement on every check-in, a
    round trip per use. SQLite: an ordinary transaction (in-process, nothing to save).
    """
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        driver = connection.connection.dbapi_connection
        driver.autocommit = True
        try:
            yield connection
        finally:
            if not driver.closed:  # a connection lost meanwhile is discarded by the pool anyway
                driver.autocommit = False
