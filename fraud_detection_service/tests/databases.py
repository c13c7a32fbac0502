"""Fresh databases for the tests: SQLite in a temporary folder, or, with POSTGRES_URL set, a uniquely
named database on that PostgreSQL server, dropped at the end (CONVENTIONS.md)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get("POSTGRES_URL")


def backend() -> str:
    return "postgresql" if POSTGRES_URL else "sqlite"


class Databases:
    """Creates databases on demand and drops the PostgreSQL ones in ``drop_all``."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self._created: list[str] = []
        self._admin = None
        if POSTGRES_URL:
            admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg2")
            self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            try:
                with self._admin.connect():
                    pass
            except OperationalError as exc:
                if os.environ.get("REQUIRE_POSTGRES") == "1":
                    pytest.fail(f"PostgreSQL at POSTGRES_URL is unreachable: {exc}")
                pytest.skip(f"PostgreSQL at POSTGRES_URL is unreachable: {exc}")

    def create(self, label: str) -> str:
        """A URL of a new, empty database."""
        if self._admin is None:
            return f"sqlite:///{self.tmp_dir / f'{label}-{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"fraud_test_{label}_{uuid.uuid4().hex[:10]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for name in self._created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()
