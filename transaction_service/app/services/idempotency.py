"""Idempotency-Key handling: what a repeated key means, given what is already stored under it."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import IdempotencyKey, Transaction, utcnow
from app.schemas import TransactionCreate
from app.statuses import PENDING


class IdempotencyConflict(Exception):
    """The first request with this key is still being processed (→ 409)."""


class IdempotencyMismatch(Exception):
    """The key was used before with a different body (→ 422)."""


def request_fingerprint(body: TransactionCreate) -> str:
    """Hash of the validated request, so 12.5 and "12.50" or "eur" and "EUR" count as the same body."""
    canonical = {
        "amount": f"{body.amount:.2f}",
        "currency": body.currency,
        "terminal_id": body.terminal_id,
        "customer_id": body.customer_id,
        "timestamp": body.timestamp.isoformat() if body.timestamp else None,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def stored_response(session: Session, user_id: str, key: str, fingerprint: str) -> Transaction | None:
    """The transaction stored under (user_id, key), or None when the key is free (absent or expired).

    Raises IdempotencyMismatch or IdempotencyConflict when the stored key forbids this request.
    """
    existing = session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    ).one_or_none()
    if existing is None:
        return None
    if existing.expires_at <= utcnow():
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == existing.id))
        session.commit()
        return None
    if existing.request_hash != fingerprint:
        raise IdempotencyMismatch()
    txn = session.get(Transaction, existing.transaction_id)
    if txn is None or txn.status == PENDING:
        raise IdempotencyConflict()
    return txn


def purge_expired_keys(session: Session) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
    session.commit()
    return result.rowcount
