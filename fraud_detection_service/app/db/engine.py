"""The database engine: SQLite under DATA_DIR by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

from fastapi_plumbing.database import sqlalchemy_url, sqlite_engine
from fastapi_plumbing.pool import PoolSettings, postgres_engine
from sqlalchemy import Engine, make_url


def make_engine(url: str) -> Engine:
    parsed = make_url(sqlalchemy_url(url))
    if parsed.get_backend_name() == "postgresql":
        # synchronous_commit=off: the PostgreSQL counterpart of SQLite's synchronous=NORMAL
        # (fastapi_plumbing.database.sqlite_engine). A commit no longer waits for its WAL flush (measured:
        # 2.7 of 7 ms per /predict under load); a server crash may lose the last commits (at most ~3x
        # wal_writer_delay), never corrupt or half-apply one. Only this service's own connections are affected.
        # plan_cache_mode=force_generic_plan: a prepared statement (fastapi_plumbing.prepared) is planned once
        # per connection. Under the default "auto" a session whose first five /predict were new customers
        # compares its cheap estimates with the generic plan's and re-plans the history read on every call
        # (~0.25 ms each, docs/performance.md); the generic plans are the same index scans.
        return postgres_engine(parsed, PoolSettings.from_environment(), connect_args={
            "options": "-c synchronous_commit=off -c plan_cache_mode=force_generic_plan"})
    # The same page cache and memory-mapped reads as the transaction service: the prediction and profile
    # tables grow to millions of rows (the benchmark's growth phase seeds them to 1M).
    return sqlite_engine(url)
