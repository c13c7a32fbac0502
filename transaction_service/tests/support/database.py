"""The suite's database: SQLite in a temporary folder, or a fresh PostgreSQL database when POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


@contextmanager
def suite_database(tmp_dir: Path) -> Iterator[str]:
    postgres_url = os.environ.get("POSTGRES_URL")
    if not postgres_url:
        yield f"sqlite:///{tmp_dir / 'transactions.sqlite3'}"
        return
    server = make_url(postgres_url).set(drivername="postgresql+psycopg2")
    name = f"txn_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {postgres_url} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {postgres_url} is unreachable")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
