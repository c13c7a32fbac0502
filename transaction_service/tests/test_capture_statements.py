"""What a capture costs the database, counted on what reaches the driver (issue 17 §5): the PENDING row and
the decision are one statement each, committed on its own, so on PostgreSQL a capture is two round trips
(no BEGIN, no separate COMMIT) and two commits, whether or not it enters the review queue. The capture runs
its statements on the DBAPI cursor (fastapi_plumbing.prepared), below SQLAlchemy's events, so they are
recorded by the driver itself: SQLite's trace callback, a psycopg2 cursor class."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg2.extensions
import pytest
from app.auth.tokens import Principal
from app.models import Transaction
from app.schemas import TransactionCreate
from app.services.capture import store_pending
from app.services.decisions import store_decision
from app.services.review_queue import queue_cells
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

CALLER = Principal(user_id="statements-1", username="statements", is_staff=False)
APPROVED = {"status": "APPROVED", "risk_score": 0.01, "reasons": ["ordinary"], "model_version": "m1",
            "contributions": [], "decided_by": "model"}
BLOCKED = {**APPROVED, "status": "BLOCKED", "risk_score": 0.97}


class _Driver:
    """(first word, run in autocommit) of each statement the driver was given. A statement prepared on
    the server (PREPARE name AS ...; EXECUTE name) counts once per EXECUTE, under its own first word."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self._prepared: dict[str, str] = {}

    def record(self, sql: str, autocommit: bool) -> None:
        words = sql.split()
        if words[0].upper() == "PREPARE":
            self._prepared[words[1].split("(")[0]] = words[words.index("AS") + 1].upper()
            return
        word = words[0].upper()
        if word == "EXECUTE":
            word = self._prepared[words[1].split("(")[0]]
        self.seen.append((word, autocommit))


@pytest.fixture
def recorded(database_url):
    """An engine on the suite's database whose driver records every statement, and the record."""
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
    yield engine, driver.seen
    engine.dispose()


@pytest.mark.parametrize("decision", [APPROVED, BLOCKED], ids=["approved", "blocked-into-the-queue"])
def test_a_capture_is_two_statements_each_committed_on_its_own(api, recorded, decision):
    # api: the running service has migrated the suite's database; the capture's storage is called directly.
    engine, statements = recorded
    with engine.connect() as connection:
        cells_before = queue_cells(connection)
    statements.clear()

    stored = store_pending(engine, CALLER, TransactionCreate(amount=Decimal("12.50"), currency="EUR",
                                                             terminal_id="T-STATEMENTS"), None, timedelta(hours=1))
    decided = store_decision(engine, stored.transaction, decision)

    capture = list(statements)  # before the checks below add their own reads
    words = [word for word, _ in capture]
    assert decided.status == decision["status"]
    with Session(engine) as session:
        assert session.get(Transaction, stored.transaction.id).status == decision["status"]
    if engine.dialect.name == "postgresql":
        # A queued decision appends its review-queue move in the same statement (WITH ... UPDATE ... INSERT).
        assert words == ["INSERT", "UPDATE" if decision is APPROVED else "WITH"]
        assert all(autocommit for _, autocommit in capture), capture
    else:
        # Two transactions: the PENDING row, then the decision with its review-queue move when it has one.
        assert words == ["BEGIN", "INSERT", "COMMIT", "BEGIN", "UPDATE"] + (["INSERT"] if decision is BLOCKED
                                                                             else []) + ["COMMIT"]
    with engine.connect() as connection:
        moved = queue_cells(connection)[("BLOCKED", "model", "none")] - cells_before[("BLOCKED", "model", "none")]
    assert moved == (1 if decision is BLOCKED else 0)
