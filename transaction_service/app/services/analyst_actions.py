"""What an analyst does to a transaction: label it (or change its label) and release a blocked one.

Each action is one database transaction: the change, the queue counts and risk buckets, the feedback
outbox entry (delivered to the fraud service like every label) and exactly one audit row. The change is
conditional on the transaction still being as the analyst saw it, so two analysts acting at once cannot
both count, and the second is told to reload.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.auth.tokens import Principal
from app.models import AuditEntry, Transaction, utcnow
from app.services.feedback import queue_label
from app.services.review_queue import label_name, move_queue_count, move_risk_bucket, queue_move
from app.statuses import ANALYST, APPROVED, BLOCKED


class ActionRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class ActionDone:
    transaction: Transaction
    outbox_entry_id: int
    audit: AuditEntry


def _state(txn: Transaction) -> dict:
    return {"status": txn.status, "decided_by": txn.decided_by, "label": label_name(txn.is_fraud)}


def _apply(session: Session, txn: Transaction, actor: Principal, action: str, is_fraud: bool,
           decision: dict, comment: str | None, first_retry_after: float) -> ActionDone:
    before = _state(txn)
    old_label, old_status, old_decided_by = txn.is_fraud, txn.status, txn.decided_by
    now = utcnow()
    same_label = Transaction.is_fraud.is_(None) if old_label is None else Transaction.is_fraud.is_(old_label)
    changed = session.execute(
        update(Transaction)
        .where(Transaction.id == txn.id, Transaction.status == old_status, same_label)
        .values(is_fraud=is_fraud, labelled_at=now, **decision)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        session.rollback()
        raise ActionRefused(409, "concurrent_change",
                            "The transaction was changed by someone else meanwhile; reload it and try again")
    new_status, new_decided_by = decision.get("status", old_status), decision.get("decided_by", old_decided_by)
    if txn.queued_for_review:
        move_queue_count(session, queue_move(old_status, old_decided_by, label_name(old_label), -1),
                         queue_move(new_status, new_decided_by, label_name(is_fraud), +1))
    move_risk_bucket(session, txn.risk_score, old_label, txn.amount, -1)
    move_risk_bucket(session, txn.risk_score, is_fraud, txn.amount, +1)
    entry = queue_label(session, txn, is_fraud, actor.username, now, first_retry_after)
    after = {"status": new_status, "decided_by": new_decided_by, "label": label_name(is_fraud)}
    audit = AuditEntry(transaction_id=txn.id, actor_id=actor.user_id, actor=actor.username, action=action,
                       before=before, after=after, comment=comment, created_at=now)
    session.add(audit)
    session.commit()
    session.refresh(txn)
    return ActionDone(txn, entry.id, audit)


def label_transaction(session: Session, txn: Transaction, is_fraud: bool, actor: Principal,
                      comment: str | None = None, *, first_retry_after: float) -> ActionDone:
    """Label (or change the label of) a decided transaction; the latest label wins."""
    if txn.status not in (APPROVED, BLOCKED):
        raise ActionRefused(409, "not_decided", "The transaction has no decision yet; label it once it is decided")
    action = "label" if txn.is_fraud is None else "relabel"
    return _apply(session, txn, actor, action, is_fraud, {}, comment, first_retry_after)


def release_transaction(session: Session, txn: Transaction, actor: Principal, comment: str | None = None, *,
                        first_retry_after: float) -> ActionDone:
    """A BLOCKED transaction the analyst judges legitimate: APPROVED by `analyst`, labelled legitimate; the
    model's (or fallback's) decision is kept in original_status / original_decided_by."""
    if txn.status != BLOCKED:
        raise ActionRefused(409, "not_blocked",
                            f"Only a BLOCKED transaction can be released (this one is {txn.status})")
    decision = {"status": APPROVED, "decided_by": ANALYST, "original_status": txn.status,
                "original_decided_by": txn.decided_by}
    return _apply(session, txn, actor, "release", False, decision, comment, first_retry_after)
