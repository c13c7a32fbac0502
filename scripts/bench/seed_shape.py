"""The shape both growth seeders give their tables (seed_transactions.py, seed_fraud.py), written once.

The seeders stay separate processes (both services' packages are named ``app``); each imports this module
from its own folder. The same made-up customers and terminals, over the same year, with the same share of
BLOCKED decisions, so the two services' tables describe the same traffic; and one way of writing them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from sqlalchemy import Connection

SEED_VERSION = "bench-seed"  # model_version of every seeded row: a shrink deletes these and no other
CUSTOMERS = 50_000  # seed-<n>
TERMINALS = 10_000  # T-<nnnnn>: the benchmark's captures use terminals among them
DAYS = 365  # rows are spread over the past year
BLOCKED_SHARE = 0.012


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Rows already in the form the column types store, at the driver's level: COPY on PostgreSQL, one
    executemany on SQLite. None is an empty unquoted csv field, which COPY reads as NULL."""
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        buffer.seek(0)
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv)", buffer)
        return
    conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)  # noqa: S608
