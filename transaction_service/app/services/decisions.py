"""Deciding a stored PENDING transaction: the model's answer, or the fallback policy when there is none,
written onto the row only while it is still PENDING. Capture and the rescue of abandoned rows both decide
through ``decide``."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.clients.fraud import FraudClient, FraudDecision, FraudServiceUnavailable
from app.core.config import settings
from app.core.metrics import DECISIONS
from app.models import FALLBACK, MODEL, PENDING, ReviewQueueChange, Transaction, utcnow
from app.services.fallback import FALLBACK_REASON, FallbackPolicy
from app.services.review_queue import enters_queue, move_queue_count, queue_move
from fastapi_plumbing.database import autocommit, on_database

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
# Built once. Only a PENDING row is decided, so a request and the rescue loop cannot both write a decision.
_DECIDE_IF_PENDING = update(_TRANSACTIONS).where(
    _TRANSACTIONS.c.id == bindparam("decided_id"), _TRANSACTIONS.c.status == PENDING,
).values({name: bindparam(f"new_{name}", type_=_TRANSACTIONS.c[name].type) for name in DECISION_COLUMNS})


def _decide_and_queue():
    """PostgreSQL: the decision and its review-queue move in one statement (a data-modifying CTE), the move
    appended only if the UPDATE found the row PENDING; inserts one row iff the decision was written."""
    decided = _DECIDE_IF_PENDING.returning(_TRANSACTIONS.c.id).cte("decided")
    move = select(bindparam("new_status", type_=_TRANSACTIONS.c.status.type),
                  bindparam("new_decided_by", type_=_TRANSACTIONS.c.decided_by.type),
                  literal("none"), literal(1)).select_from(decided)
    return insert(ReviewQueueChange.__table__).from_select(["status", "decided_by", "label", "delta"], move)


_DECIDE_AND_QUEUE = _decide_and_queue()


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


def store_decision(sessions: sessionmaker[Session], txn: Transaction, decision: dict) -> Transaction:
    """Write decision onto txn if still PENDING; returns the stored row (another decider may have won)."""
    queued = enters_queue(decision["status"], decision["risk_score"], settings.REVIEW_THRESHOLD)
    values = {**decision, "decided_at": utcnow(), "queued_for_review": queued}
    params = {"decided_id": txn.id, **{f"new_{name}": value for name, value in values.items()}}
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        # One statement committed on its own: one round trip instead of BEGIN, UPDATE, [INSERT], COMMIT. A
        # queued decision appends its move in the same statement, so both commit or neither does.
        with autocommit(engine) as connection:
            won = connection.execute(_DECIDE_AND_QUEUE if queued else _DECIDE_IF_PENDING, params).rowcount
    else:
        # SQLite: no round trips to save (in-process), and no data-modifying CTEs.
        with engine.begin() as connection:
            won = connection.execute(_DECIDE_IF_PENDING, params).rowcount
            if won and queued:  # the queue's counts move with the decision
                move_queue_count(connection, queue_move(decision["status"], decision["decided_by"], "none", +1))
    if not won:
        with sessions() as session:
            return session.get(Transaction, txn.id)
    # Our write won: the row now is txn plus these values, no need to read it back.
    for name, value in values.items():
        setattr(txn, name, value)
    DECISIONS.labels(status=decision["status"], decided_by=decision["decided_by"]).inc()
    logger.info("transaction %s %s by %s", txn.id, decision["status"], decision["decided_by"])
    return txn


async def decide(sessions: sessionmaker[Session], fraud: FraudClient, policy: FallbackPolicy,
                 txn: Transaction) -> Transaction:
    """Ask the model (awaited: the call is all waiting), fall back when it gives no usable answer, store
    the decision onto the PENDING row; returns the stored row (another decider may have won)."""
    try:
        decision = model_decision(await fraud.apredict(fraud_payload(txn)))
    except FraudServiceUnavailable as exc:
        decision = fallback_decision(txn, policy, exc)
    return await on_database(sessions, store_decision, sessions, txn, decision)


def _abandoned(sessions: sessionmaker[Session], older_than_seconds: float, limit: int) -> list[Transaction]:
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    with sessions() as session:
        return list(session.scalars(
            select(Transaction)
            .where(Transaction.status == PENDING, Transaction.created_at < cutoff)
            .order_by(Transaction.created_at)
            .limit(limit)
        ).all())


async def rescue_abandoned(sessions: sessionmaker[Session], fraud: FraudClient, policy: FallbackPolicy,
                           older_than_seconds: float, limit: int = 100) -> int:
    """Decide rows left PENDING by a process that died mid-call (scoring is idempotent by id).

    Only rows older than the client's whole deadline are touched, so a live request is never raced.
    """
    abandoned = await asyncio.to_thread(_abandoned, sessions, older_than_seconds, limit)
    for txn in abandoned:
        logger.info("re-scoring abandoned PENDING transaction %s", txn.id)
        await decide(sessions, fraud, policy, txn)
    return len(abandoned)
