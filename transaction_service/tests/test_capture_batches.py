"""Concurrent captures share their commits (app/services/batch_writes.py, fastapi_plumbing.group_commit):
fewer commits than captures, and still each capture's row exactly once with its own decision and review-queue
move; a decision that lost to another decider learns so in a batch where the others won; a write that
fails fails only its own capture. The captures run in-process on the suite's database (SQLite, or
PostgreSQL with POSTGRES_URL), deciding through the fraud stub or an instant fake."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from app.auth.tokens import Principal
from app.clients.circuit_breaker import CircuitBreaker
from app.clients.fraud import FraudClient, FraudDecision
from app.models import Transaction
from app.schemas import TransactionCreate
from app.services.batch_writes import CaptureWriters, insert_pending
from app.services.capture import TransactionCapture, as_stored, new_row
from app.services.decisions import decide, decision_write, store_decision
from app.services.fallback import FallbackPolicy
from app.services.rate_limit import RateLimiter
from app.services.review_queue import queue_cells
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import INTERNAL_TOKEN
from tests.support.statements import commits, recorded  # noqa: F401 - the fixture

BLOCK_ABOVE, REVIEW_ABOVE = 500, 400  # tests.support.stubs.FraudStub's model mode


def _caller() -> Principal:
    return Principal(user_id=f"batches-{uuid.uuid4().hex[:8]}", username="batches", is_staff=False)


def _body(amount: str) -> TransactionCreate:
    return TransactionCreate(amount=Decimal(amount), currency="EUR", terminal_id="T-BATCH")


def _rows(engine, customer_id: str) -> list[Transaction]:
    with Session(engine) as session:
        return list(session.scalars(select(Transaction).where(Transaction.customer_id == customer_id)))


def _queue(engine) -> dict:
    with engine.connect() as connection:
        return queue_cells(connection)


def _moved(before: dict, after: dict) -> dict:
    return {cell: n - before.get(cell, 0) for cell, n in after.items() if n != before.get(cell, 0)}


def test_concurrent_captures_share_commits_each_row_once_with_its_decision(api, recorded, fraud_stub):  # noqa: F811
    # api: the running service has migrated the suite's database; these captures run in this process.
    engine, statements, _ = recorded
    caller = _caller()
    amounts = ["20.00", "450.00", "900.00"] * 10  # approved, approved in the review band, blocked
    queue_before = _queue(engine)
    statements.clear()

    async def capture_all():
        fraud = FraudClient(fraud_stub.url, INTERNAL_TOKEN, connect_timeout=1, read_timeout=5, deadline=10,
                            retry_backoff=0.05, breaker=CircuitBreaker(1000, 30))
        capture = TransactionCapture(engine, fraud, FallbackPolicy.parse("block"), timedelta(hours=1),
                                     RateLimiter(0), CaptureWriters(engine))
        try:
            return await asyncio.gather(*(capture(caller, _body(amount), None) for amount in amounts))
        finally:
            await fraud.aclose()

    results = asyncio.run(capture_all())
    recorded_commits = commits(statements)

    expected = ["APPROVED" if float(a) <= BLOCK_ABOVE else "BLOCKED" for a in amounts]
    assert [r.transaction.status for r in results] == expected
    assert all(r.transaction.decided_by == "model" for r in results)
    # Two writes per capture (its PENDING row, its decision), in fewer commits than captures.
    assert recorded_commits < len(amounts), statements
    rows = {row.id: row for row in _rows(engine, caller.user_id)}
    assert sorted(rows) == sorted(r.transaction.id for r in results)  # each row once
    for result in results:
        row = rows[result.transaction.id]
        assert (row.status, row.risk_score, row.decided_by) == (result.transaction.status,
                                                                result.transaction.risk_score, "model")
        assert row.queued_for_review == (float(row.amount) > REVIEW_ABOVE)
    assert _moved(queue_before, _queue(engine)) == {("BLOCKED", "model", "none"): 10,
                                                    ("APPROVED", "model", "none"): 10}


class _InstantFraud:
    """Answers every transaction BLOCKED at once, so concurrent decisions reach the writer together."""

    async def apredict(self, payload: dict) -> FraudDecision:
        return FraudDecision(transaction_id=payload["transaction_id"], decision="BLOCKED", risk_score=0.91,
                             reasons=["instant"], model_version="instant-1")


def test_a_decision_that_lost_to_the_rescue_learns_it_in_a_batch_the_others_won(api, engine):
    caller = _caller()
    txns = [new_row(caller, _body("30.00")) for _ in range(5)]
    insert_pending(engine, txns)
    txns = [as_stored(row) for row in txns]
    # The rescue loop decided the second row first (its fallback: BLOCKED, no score).
    rescued = store_decision(engine, txns[1], {"status": "BLOCKED", "risk_score": None, "reasons": ["fallback"],
                                               "model_version": None, "contributions": None,
                                               "decided_by": "fallback"})
    queue_before = _queue(engine)
    writers = CaptureWriters(engine)

    async def decide_all():
        return await asyncio.gather(*(decide(engine, _InstantFraud(), FallbackPolicy.parse("block"), txn,
                                             writers.decisions) for txn in txns))

    decided = asyncio.run(decide_all())
    assert (writers.decisions.batches, writers.decisions.items) == (1, 5)  # one batch, one commit
    # The loser answers with the row as the rescue stored it; the others with their own decisions.
    assert (decided[1].status, decided[1].decided_by, decided[1].reasons) == ("BLOCKED", "fallback", ["fallback"])
    assert rescued.decided_at == decided[1].decided_at
    for i in (0, 2, 3, 4):
        assert (decided[i].status, decided[i].decided_by, decided[i].model_version) == ("BLOCKED", "model",
                                                                                         "instant-1")
    rows = {row.id: row for row in _rows(engine, caller.user_id)}
    assert rows[txns[1].id].decided_by == "fallback"
    assert [rows[txns[i].id].decided_by for i in (0, 2, 3, 4)] == ["model"] * 4
    # Queue moves for exactly the four that won.
    assert _moved(queue_before, _queue(engine)) == {("BLOCKED", "model", "none"): 4}


@pytest.mark.parametrize("writer", ["pending", "decisions"])
def test_a_write_that_fails_fails_only_its_own_capture(api, engine, writer):
    caller = _caller()
    rows = [new_row(caller, _body("40.00")) for _ in range(6)]
    writers = CaptureWriters(engine)
    ok = {"status": "APPROVED", "risk_score": 0.05, "reasons": [], "model_version": "m", "contributions": [],
          "decided_by": "model"}

    async def write_all():
        if writer == "pending":
            rows[3]["customer_id"] = None  # NOT NULL: this row cannot be stored
            return await asyncio.gather(*(writers.pending.submit(row) for row in rows), return_exceptions=True)
        insert_pending(engine, rows)
        writes = [decision_write(as_stored(row), {**ok, "status": None if i == 3 else "APPROVED"})
                  for i, row in enumerate(rows)]  # status NOT NULL: this decision cannot be stored
        return await asyncio.gather(*(writers.decisions.submit(w) for w in writes), return_exceptions=True)

    results = asyncio.run(write_all())
    assert isinstance(results[3], Exception)
    assert not any(isinstance(r, Exception) for i, r in enumerate(results) if i != 3)
    stored = {row.id: row.status for row in _rows(engine, caller.user_id)}
    others = [row["id"] for i, row in enumerate(rows) if i != 3]
    if writer == "pending":
        assert sorted(stored) == sorted(others)
    else:
        assert [stored[i] for i in others] == ["APPROVED"] * 5
        assert stored[rows[3]["id"]] == "PENDING"
