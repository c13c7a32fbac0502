"""The statements a capture gives the database driver, recorded by the driver itself: the capture runs its
statements on the DBAPI cursor (fastapi_plumbing.prepared), below SQLAlchemy's events. SQLite's trace
callback, a psycopg2 cursor class."""

from __future__ import annotations

import psycopg2.extensions
import pytest
from sqlalchemy import create_engine, event


class _Driver:
    """(first word, run in autocommit) of each statement the driver was given. A statement prepared on
    the server (PREPARE name AS ...; EXECUTE name) counts once per EXECUTE, under its own first word."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self.configured: list[tuple[str, ...]] = []  # per statement recorded, the SET LOCALs sent ahead of it
        self._prepared: dict[str, str] = {}

    def record(self, sql: str, autocommit: bool) -> None:
        # A query string of several statements is one round trip and one implicit transaction: it counts as
        # its last statement, which the ones before it only configure (SET LOCAL).
        *configuring, sql = [part for part in sql.split(";") if part.strip()]
        self.configured.append(tuple(part.strip() for part in configuring))
        words = sql.split()
        if words[0].upper() == "PREPARE":
            self._prepared[words[1].split("(")[0]] = words[words.index("AS") + 1].upper()
            self.configured.pop()
            return
        word = words[0].upper()
        if word == "EXECUTE":
            word = self._prepared[words[1].split("(")[0]]
        self.seen.append((word, autocommit))


@pytest.fixture
def recorded(database_url):
    """An engine on the suite's database whose driver records every statement; the record; and per statement
    recorded, the SET LOCALs sent ahead of it in its query string."""
    driver = _Driver()
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url)

        @event.listens_for(engine, "connect")
        def _trace(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Every statement SQLite runs, the sqlite3 module's own BEGIN and COMMIT included.
            dbapi_connection.set_trace_callback(lambda sql: driver.record(sql, False))
    else:
        class RecordingCursor(psycopg2.extensions.cursor):
            def execute(self, sql, params=None):  # type: ignore[no-untyped-def]
                # psycopg2 sends BEGIN before the first statement of a transaction unless in autocommit.
                driver.record(sql if isinstance(sql, str) else sql.decode(), self.connection.autocommit)
                return super().execute(sql, params)

        engine = create_engine(database_url, connect_args={"cursor_factory": RecordingCursor})
    yield engine, driver.seen, driver.configured
    engine.dispose()


def commits(seen: list[tuple[str, bool]]) -> int:
    """Commits among the recorded statements: each one run in autocommit, and each COMMIT."""
    return sum(1 for word, autocommit in seen if autocommit or word == "COMMIT")
