"""What a capture costs the database, counted on what reaches the driver (issue 17 §5): the PENDING row and
the decision are one statement each, committed on its own, so on PostgreSQL a capture is two round trips
(no BEGIN, no separate COMMIT) and two commits, whether or not it enters the review queue. Concurrent
captures share these commits: test_capture_batches.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from app.auth.tokens import Principal
from app.models import Transaction
from app.schemas import TransactionCreate
from app.services.batch_writes import insert_pending
from app.services.capture import as_stored, new_row
from app.services.decisions import store_decision
from app.services.review_queue import queue_cells
from sqlalchemy.orm import Session

from tests.support.statements import recorded  # noqa: F401 - the fixture

CALLER = Principal(user_id="statements-1", username="statements", is_staff=False)
APPROVED = {"status": "APPROVED", "risk_score": 0.01, "reasons": ["ordinary"], "model_version": "m1",
            "contributions": [], "decided_by": "model"}
BLOCKED = {**APPROVED, "status": "BLOCKED", "risk_score": 0.97}


@pytest.mark.parametrize("decision", [APPROVED, BLOCKED], ids=["approved", "blocked-into-the-queue"])
def test_a_capture_is_two_statements_each_committed_on_its_own(api, recorded, decision):  # noqa: F811
    # api: the running service has migrated the suite's database; the capture's storage is called directly.
    engine, statements, configured = recorded
    with engine.connect() as connection:
        cells_before = queue_cells(connection)
    statements.clear()
    configured.clear()

    row = new_row(CALLER, TransactionCreate(amount=Decimal("12.50"), currency="EUR", terminal_id="T-STATEMENTS"))
    insert_pending(engine, [row])  # what CaptureWriters.pending writes for a capture alone
    decided = store_decision(engine, as_stored(row), decision)

    capture = list(statements)  # before the checks below add their own reads
    words = [word for word, _ in capture]
    assert decided.status == decision["status"]
    with Session(engine) as session:
        assert session.get(Transaction, row["id"]).status == decision["status"]
    if engine.dialect.name == "postgresql":
        # The decision and, when it enters the queue, its review-queue move: one statement (WITH ... UPDATE
        # ... INSERT), the one that writes a whole batch of decisions (app/services/batch_writes.py).
        assert words == ["INSERT", "WITH"]
        assert all(autocommit for _, autocommit in capture), capture
        # The PENDING row's commit does not wait for its WAL flush; the decision's, the one answered, does
        # (app/services/batch_writes.py, insert_pending).
        assert configured[:2] == [("SET LOCAL synchronous_commit = off",), ()]
    else:
        # Two transactions: the PENDING row, then the decision with its review-queue move when it has one.
        assert words == ["BEGIN", "INSERT", "COMMIT", "BEGIN", "UPDATE"] + (["INSERT"] if decision is BLOCKED
                                                                             else []) + ["COMMIT"]
    with engine.connect() as connection:
        moved = queue_cells(connection)[("BLOCKED", "model", "none")] - cells_before[("BLOCKED", "model", "none")]
    assert moved == (1 if decision is BLOCKED else 0)
