"""Labels: stored with the transaction, queued in an outbox, and delivered to the fraud service until it
accepts them (nothing is lost while it is down)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.clients.fraud import FraudClient, FraudServiceUnavailable
from app.core.metrics import FEEDBACK_DELIVERED
from app.models import FeedbackOutbox, Transaction, utcnow
from app.services.decisions import fraud_payload

logger = logging.getLogger(__name__)
SUPERSEDED = "superseded by a newer label"


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff between delivery attempts, capped."""

    base_seconds: float
    max_seconds: float

    def delay_after(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.max_seconds, self.base_seconds * 2 ** min(attempts - 1, 30)))


def queue_label(session: Session, txn: Transaction, is_fraud: bool, labelled_by: str, now: datetime,
                first_retry_after: float) -> FeedbackOutbox:
    """Queue the label for delivery in the caller's database transaction (app/services/analyst_actions.py
    stores it on the transaction and commits); an older label still queued is superseded."""
    session.execute(
        update(FeedbackOutbox)
        .where(FeedbackOutbox.transaction_id == txn.id, FeedbackOutbox.delivered_at.is_(None))
        .values(delivered_at=now, last_error=SUPERSEDED)
    )
    # The caller tries to deliver at once; the background loop only picks it up if that fails.
    entry = FeedbackOutbox(transaction_id=txn.id, is_fraud=is_fraud, created_at=now, labelled_by=labelled_by,
                           next_attempt_at=now + timedelta(seconds=first_retry_after))
    session.add(entry)
    return entry


def deliver(sessions: sessionmaker[Session], fraud: FraudClient, entry_id: int, schedule: RetrySchedule) -> bool:
    """One delivery attempt; True once the fraud service accepted the label."""
    with sessions() as session:
        entry = session.get(FeedbackOutbox, entry_id)
        if entry is None or entry.delivered_at is not None:
            return True
        txn = session.get(Transaction, entry.transaction_id)
        # The transaction fields let the fraud service record one it never scored (fallback decisions).
        payload = {**fraud_payload(txn), "is_fraud": entry.is_fraud}
        try:
            fraud.send_feedback(payload)
        except FraudServiceUnavailable as exc:
            entry.attempts += 1
            entry.last_error = exc.reason[:1000]
            entry.next_attempt_at = utcnow() + schedule.delay_after(entry.attempts)
            session.commit()
            logger.warning("feedback for %s not delivered (attempt %d): %s", txn.id, entry.attempts, exc.reason)
            return False
        entry.attempts += 1
        entry.delivered_at = utcnow()
        entry.last_error = None
        session.commit()
    FEEDBACK_DELIVERED.inc()
    logger.info("feedback for %s delivered", txn.id)
    return True


def deliver_due(sessions: sessionmaker[Session], fraud: FraudClient, schedule: RetrySchedule, limit: int = 100) -> int:
    with sessions() as session:
        due = session.scalars(
            select(FeedbackOutbox.id)
            .where(FeedbackOutbox.delivered_at.is_(None), FeedbackOutbox.next_attempt_at <= utcnow())
            .order_by(FeedbackOutbox.id)
            .limit(limit)
        ).all()
    return sum(deliver(sessions, fraud, entry_id, schedule) for entry_id in due)
