"""What a capture costs the database, counted on the statements the driver is given (issue 17 §5): the
PENDING row and the decision are one statement each, committed on its own, so on PostgreSQL a capture is
two round trips (no BEGIN, no separate COMMIT) and two commits, whether or not it enters the review queue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from app.auth.tokens import Principal
from app.models import Transaction
from app.schemas import TransactionCreate
from app.services.capture import store_pending
from app.services.decisions import store_decision
from app.services.review_queue import queue_cells
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

CALLER = Principal(user_id="statements-1", username="statements", is_staff=False)
APPROVED = {"status": "APPROVED", "risk_score": 0.01, "reasons": ["ordinary"], "model_version": "m1",
            "contributions": [], "decided_by": "model"}
BLOCKED = {**APPROVED, "status": "BLOCKED", "risk_score": 0.97}


@pytest.fixture
def statements(engine):
    """(first word of each statement, whether the driver connection committed it on its own)."""
    seen: list[tuple[str, bool]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        # psycopg2 sends BEGIN before the first statement of a transaction unless in autocommit; SQLite
        # has no round trips, only its own implicit transaction.
        seen.append((statement.split(None, 1)[0].upper(), bool(getattr(conn.connection.dbapi_connection,
                                                                          "autocommit", False))))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("decision", [APPROVED, BLOCKED], ids=["approved", "blocked-into-the-queue"])
def test_a_capture_is_two_statements_each_committed_on_its_own(api, engine, statements, decision):
    # api: the running service has migrated the suite's database; the capture's storage is called directly.
    sessions = sessionmaker(engine, expire_on_commit=False)
    with engine.connect() as connection:
        cells_before = queue_cells(connection)
    statements.clear()

    stored = store_pending(sessions, CALLER, TransactionCreate(amount=Decimal("12.50"), currency="EUR",
                                                               terminal_id="T-STATEMENTS"), None, timedelta(hours=1))
    decided = store_decision(sessions, stored.transaction, decision)

    capture = list(statements)  # before the checks below add their own reads
    words = [word for word, _ in capture]
    assert decided.status == decision["status"]
    with sessions() as session:
        assert session.get(Transaction, stored.transaction.id).status == decision["status"]
    if engine.dialect.name == "postgresql":
        # A queued decision appends its review-queue move in the same statement (WITH ... UPDATE ... INSERT).
        assert words == ["INSERT", "UPDATE" if decision is APPROVED else "WITH"]
        assert all(autocommit for _, autocommit in capture), capture
    else:
        assert words == ["INSERT", "UPDATE"] + (["INSERT"] if decision is BLOCKED else [])
    with engine.connect() as connection:
        moved = queue_cells(connection)[("BLOCKED", "model", "none")] - cells_before[("BLOCKED", "model", "none")]
    assert moved == (1 if decision is BLOCKED else 0)
