"""Deciding a stored PENDING transaction: the model's answer, or the fallback policy when there is none,
written onto the row only while it is still PENDING. Capture and the rescue of abandoned rows both decide
through ``decide``."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.clients.fraud import FraudClient, FraudDecision, FraudServiceUnavailable
from app.clients.fraud_batches import FraudPredictor
from app.core.config import settings
from app.core.metrics import DECISIONS
from app.models import Transaction, utcnow
from app.services.batch_writes import DecisionWrite, write_decisions
from app.services.fallback import FALLBACK_REASON, FallbackPolicy
from app.services.review_queue import enters_queue, label_name, queue_move
from app.statuses import FALLBACK, MODEL, PENDING
from fastapi_plumbing.database import on_database
from fastapi_plumbing.group_commit import GroupCommit

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


def decision_write(txn: Transaction, decision: dict) -> DecisionWrite:
    queued = enters_queue(decision["status"], decision["risk_score"], settings.REVIEW_THRESHOLD)
    # A decision enters the queue unlabelled; the move commits with the decision, or neither does.
    move = queue_move(decision["status"], decision["decided_by"], label_name(None), +1) if queued else None
    return DecisionWrite(txn.id, {**decision, "decided_at": utcnow(), "queued_for_review": queued}, move)


def _stored_row(engine: Engine, txn_id: Any) -> Transaction | None:
    with Session(engine) as session:
        return session.get(Transaction, txn_id)


def _won(txn: Transaction, write: DecisionWrite) -> Transaction:
    # Our write won: the row now is txn plus these values, no need to read it back.
    for name, value in write.values.items():
        setattr(txn, name, value)
    DECISIONS.labels(status=txn.status, decided_by=txn.decided_by).inc()
    logger.info("transaction %s %s by %s", txn.id, txn.status, txn.decided_by)
    return txn


def _write_one(engine: Engine, write: DecisionWrite) -> bool:
    return write_decisions(engine, [write])[0]


def store_decision(engine: Engine, txn: Transaction, decision: dict) -> Transaction:
    """Write decision onto txn if still PENDING, on its own, from a thread; returns the stored row (another
    decider may have won)."""
    write = decision_write(txn, decision)
    return _won(txn, write) if _write_one(engine, write) else _stored_row(engine, txn.id)


async def decide(engine: Engine, fraud: FraudPredictor, policy: FallbackPolicy, txn: Transaction,
                 writer: GroupCommit[DecisionWrite, bool] | None = None) -> Transaction:
    """Ask the model (awaited: the call is all waiting; through FraudBatches, with other captures' when calls
    are in flight, or one call through FraudClient), fall back when it gives no usable answer, store the
    decision onto the PENDING row - through ``writer``, committed with other captures' decisions, or
    on its own - and return the stored row (another decider may have won)."""
    try:
        decision = model_decision(await fraud.apredict(fraud_payload(txn)))
    except FraudServiceUnavailable as exc:
        decision = fallback_decision(txn, policy, exc)
    write = decision_write(txn, decision)
    won = await (writer.submit(write) if writer is not None else on_database(engine, _write_one, engine, write))
    if won:
        return _won(txn, write)
    return await on_database(engine, _stored_row, engine, txn.id)


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
