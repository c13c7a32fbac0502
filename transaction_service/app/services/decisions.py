"""Deciding a stored PENDING transaction: the model's answer, or the fallback policy when there is none,
written onto the row only while it is still PENDING. Capture and the rescue of abandoned rows both decide
through ``decide``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Dialect, Engine, bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.clients.fraud import FraudClient, FraudDecision, FraudServiceUnavailable
from app.core.config import settings
from app.core.metrics import DECISIONS
from app.models import ReviewQueueChange, Transaction, utcnow
from app.services.fallback import FALLBACK_REASON, FallbackPolicy
from app.services.review_queue import enters_queue, label_name, queue_move
from app.statuses import FALLBACK, MODEL, PENDING
from fastapi_plumbing.database import autocommit, on_database
from fastapi_plumbing.prepared import Prepared

logger = logging.getLogger(__name__)


def fraud_payload(txn: Transaction) -> dict:
    """The transaction as the fraud service's wire format has it (amounts as floats from here on)."""
    return {
        "transaction_id": str(txn.id),
        "customer_id": txn.customer_id,
        "terminal_id": txn.terminal_id,
        "amount": float(txn.amount),
        "timestamp": txn.timestamp.isoformat(),
        "currency": txn.currency,  # only words the model's reasons ("9,850.00 EUR")
    }


_TRANSACTIONS = Transaction.__table__
DECISION_COLUMNS = ("status", "risk_score", "reasons", "model_version", "contributions", "decided_by", "decided_at",
                    "queued_for_review")
# Only a PENDING row is decided, so a request and the rescue loop cannot both write a decision.
_DECIDE_IF_PENDING = update(_TRANSACTIONS).where(
    _TRANSACTIONS.c.id == bindparam("decided_id"), _TRANSACTIONS.c.status == PENDING,
).values({name: bindparam(f"new_{name}", type_=_TRANSACTIONS.c[name].type) for name in DECISION_COLUMNS})
# A queued decision's review-queue move (review_queue.queue_move), bound as move_<column>.
_CHANGES = ReviewQueueChange.__table__
_MOVE = {name: bindparam(f"move_{name}", type_=_CHANGES.c[name].type) for name in ("status", "decided_by", "label",
                                                                                     "delta")}


@dataclass(frozen=True)
class _Statements:
    decide: Prepared
    append_move: Prepared  # SQLite: after the decision, in its transaction
    # PostgreSQL: the decision and its move in one statement (a data-modifying CTE), the move appended only
    # if the UPDATE found the row PENDING; inserts one row iff the decision was written.
    decide_and_queue: Prepared | None


@cache
def _statements(dialect: Dialect) -> _Statements:
    # Compiled once and run on the DBAPI cursor (fastapi_plumbing.prepared), as the capture's INSERT.
    decide_and_queue = None
    if dialect.name == "postgresql":
        decided = _DECIDE_IF_PENDING.returning(_TRANSACTIONS.c.id).cte("decided")
        decide_and_queue = Prepared.compile(
            insert(_CHANGES).from_select(list(_MOVE), select(*_MOVE.values()).select_from(decided)), dialect)
    return _Statements(decide=Prepared.compile(_DECIDE_IF_PENDING, dialect),
                       append_move=Prepared.compile(insert(_CHANGES).values(_MOVE), dialect),
                       decide_and_queue=decide_and_queue)


def model_decision(answer: FraudDecision) -> dict:
    return {
        "status": answer.decision,
        "risk_score": answer.risk_score,
        "reasons": answer.reasons,
        "model_version": answer.model_version,
        "contributions": answer.contributions,
        "decided_by": MODEL,
    }


def fallback_decision(txn: Transaction, policy: FallbackPolicy, exc: FraudServiceUnavailable) -> dict:
    status = policy.decide(txn.amount)
    logger.warning("no model decision for %s (%s); fallback policy %s decided %s",
                   txn.id, exc.reason, policy.name, status)
    return {
        "status": status,
        "risk_score": None,
        "reasons": [FALLBACK_REASON],
        "model_version": None,
        "contributions": None,
        "decided_by": FALLBACK,
    }


def store_decision(engine: Engine, txn: Transaction, decision: dict) -> Transaction:
    """Write decision onto txn if still PENDING; returns the stored row (another decider may have won)."""
    queued = enters_queue(decision["status"], decision["risk_score"], settings.REVIEW_THRESHOLD)
    values = {**decision, "decided_at": utcnow(), "queued_for_review": queued}
    params = {"decided_id": txn.id, **{f"new_{name}": value for name, value in values.items()}}
    sql = _statements(engine.dialect)
    # A decision enters the queue unlabelled; the move commits with the decision, or neither does.
    if queued:
        move = queue_move(decision["status"], decision["decided_by"], label_name(None), +1)
        params.update({f"move_{name}": value for name, value in move.items()})
    # PostgreSQL: one statement committed on its own, one round trip instead of BEGIN, UPDATE, [INSERT],
    # COMMIT. SQLite: in-process, no round trips to save, and no data-modifying CTEs.
    with autocommit(engine) as connection:
        if queued and sql.decide_and_queue is not None:
            won = _rowcount(sql.decide_and_queue.execute(connection, params))
        else:
            won = _rowcount(sql.decide.execute(connection, params))
            if won and queued:
                sql.append_move.execute(connection, params).close()
    if not won:
        with Session(engine) as session:
            return session.get(Transaction, txn.id)
    # Our write won: the row now is txn plus these values, no need to read it back.
    for name, value in values.items():
        setattr(txn, name, value)
    DECISIONS.labels(status=decision["status"], decided_by=decision["decided_by"]).inc()
    logger.info("transaction %s %s by %s", txn.id, decision["status"], decision["decided_by"])
    return txn


def _rowcount(cursor: Any) -> int:
    try:
        return cursor.rowcount
    finally:
        cursor.close()


async def decide(engine: Engine, fraud: FraudClient, policy: FallbackPolicy, txn: Transaction) -> Transaction:
    """Ask the model (awaited: the call is all waiting), fall back when it gives no usable answer, store
    the decision onto the PENDING row; returns the stored row (another decider may have won)."""
    try:
        decision = model_decision(await fraud.apredict(fraud_payload(txn)))
    except FraudServiceUnavailable as exc:
        decision = fallback_decision(txn, policy, exc)
    return await on_database(engine, store_decision, engine, txn, decision)


def _abandoned(engine: Engine, older_than_seconds: float, limit: int) -> list[Transaction]:
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    with Session(engine) as session:
        return list(session.scalars(
            select(Transaction)
            .where(Transaction.status == PENDING, Transaction.created_at < cutoff)
            .order_by(Transaction.created_at)
            .limit(limit)
        ).all())


async def rescue_abandoned(engine: Engine, fraud: FraudClient, policy: FallbackPolicy,
                           older_than_seconds: float, limit: int = 100) -> int:
    """Decide rows left PENDING by a process that died mid-call (scoring is idempotent by id).

    Only rows older than the client's whole deadline are touched, so a live request is never raced.
    """
    abandoned = await asyncio.to_thread(_abandoned, engine, older_than_seconds, limit)
    for txn in abandoned:
        logger.info("re-scoring abandoned PENDING transaction %s", txn.id)
        await decide(engine, fraud, policy, txn)
    return len(abandoned)
