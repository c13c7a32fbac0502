"""Engine and session factory, built once in the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from fastapi_plumbing.pool import PoolSettings, postgres_engine


def build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Writers from several threads wait for the lock instead of failing at once.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints instead of on every commit: a committed transaction
            # survives a crash or kill of the process (what "nothing is lost" is about here), and only a
            # power loss of the machine can roll back the last commits. A capture commits twice (stored,
            # then decided), and an fsync on each was costly (docs/performance.md). Deployments that need
            # power-loss durability run on PostgreSQL (DATABASE_URL), which keeps synchronous commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # The default page cache (2 MiB) holds the random-UUID primary key's pages only while the table
            # is small; at a million rows most inserts would read index pages back through syscalls
            # (docs/performance.md). Memory-mapped reads and a 64 MiB cache per connection keep them in
            # memory; both are allocated only as pages are touched.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA mmap_size=268435456")
            cursor.close()

        return engine
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
