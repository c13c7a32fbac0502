"""Capturing a transaction: authorise, store it PENDING (committed), then decide it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.auth.tokens import Principal
from app.clients.fraud import FraudClient
from app.models import PENDING, IdempotencyKey, Transaction, utcnow
from app.schemas import TransactionCreate
from app.services.fallback import FallbackPolicy
from app.services.idempotency import IdempotencyConflict, request_fingerprint, stored_response
from app.services.scoring import decide_transaction


class StaffOnlyField(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class CaptureResult:
    transaction: Transaction
    replayed: bool


def _new_transaction(caller: Principal, body: TransactionCreate) -> Transaction:
    # A customer may name themself (harmless) but nobody else, and may not back-date.
    if body.customer_id is not None and body.customer_id != caller.user_id and not caller.is_staff:
        raise StaffOnlyField("customer_id")
    if body.timestamp is not None and not caller.is_staff:
        raise StaffOnlyField("timestamp")
    now = utcnow()
    return Transaction(
        id=uuid.uuid4(),
        customer_id=body.customer_id or caller.user_id,
        terminal_id=body.terminal_id,
        amount=body.amount,
        currency=body.currency,
        timestamp=body.timestamp or now,
        status=PENDING,
        reasons=[],
        created_at=now,
    )


def capture_transaction(
    sessions: sessionmaker[Session],
    fraud: FraudClient,
    policy: FallbackPolicy,
    caller: Principal,
    body: TransactionCreate,
    idempotency_key: str | None,
    idempotency_ttl: timedelta,
) -> CaptureResult:
    fingerprint = request_fingerprint(body) if idempotency_key else ""
    # Two tries: the first may find an expired key, which stored_response deletes.
    for _ in range(2):
        txn = _new_transaction(caller, body)
        with sessions() as session:
            session.add(txn)
            if idempotency_key:
                session.flush()  # the key row refers to the transaction row
                session.add(IdempotencyKey(user_id=caller.user_id, key=idempotency_key, request_hash=fingerprint,
                                           transaction_id=txn.id, expires_at=txn.created_at + idempotency_ttl))
            try:
                # Committed before the fraud call: the transaction survives whatever happens next.
                session.commit()
            except IntegrityError:
                if not idempotency_key:
                    raise
                session.rollback()
                original = stored_response(session, caller.user_id, idempotency_key, fingerprint)
                if original is not None:
                    return CaptureResult(original, replayed=True)
                continue
        return CaptureResult(decide_transaction(sessions, fraud, policy, txn), replayed=False)
    # The key was taken again between our delete and insert: another request is using it right now.
    raise IdempotencyConflict()
