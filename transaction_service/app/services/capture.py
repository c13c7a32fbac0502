"""Capturing a transaction: authorise, store it PENDING (committed), then decide it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from types import SimpleNamespace

from sqlalchemy import Dialect, Engine, insert
from sqlalchemy.orm import Session

from app.auth.tokens import Principal
from app.clients.fraud_batches import FraudPredictor
from app.models import IdempotencyKey, Transaction, utcnow
from app.schemas import TransactionCreate
from app.services.batch_writes import CaptureWriters, statements
from app.services.decisions import decide
from app.services.fallback import FallbackPolicy
from app.services.idempotency import IdempotencyConflict, request_fingerprint, stored_response
from app.services.rate_limit import RateLimiter
from app.statuses import PENDING
from fastapi_plumbing.database import on_database
from fastapi_plumbing.prepared import Prepared


class StaffOnlyField(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class CaptureResult:
    transaction: Transaction | SimpleNamespace  # a new capture: the row as stored (see as_stored)
    replayed: bool


_KEY_COLUMNS = ("user_id", "key", "request_hash", "transaction_id", "created_at", "expires_at")


@cache
def _insert_key(dialect: Dialect) -> Prepared:
    # Compiled once and run on the DBAPI cursor: SQLAlchemy's per-execution machinery cost more CPU than
    # the statements themselves. inline(): no RETURNING of the key's id on PostgreSQL, nobody reads it.
    return Prepared.compile(insert(IdempotencyKey.__table__).inline(), dialect, _KEY_COLUMNS)


def new_row(caller: Principal, body: TransactionCreate) -> dict:
    # A customer may name themself (harmless) but nobody else, and may not back-date.
    if body.customer_id is not None and body.customer_id != caller.user_id and not caller.is_staff:
        raise StaffOnlyField("customer_id")
    if body.timestamp is not None and not caller.is_staff:
        raise StaffOnlyField("timestamp")
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "customer_id": body.customer_id or caller.user_id,
        "terminal_id": body.terminal_id,
        "amount": body.amount,
        "currency": body.currency,
        "timestamp": body.timestamp or now,
        "status": PENDING,
        "reasons": [],
        "created_at": now,
        "queued_for_review": False,
    }


def as_stored(row: dict) -> SimpleNamespace:
    """The new row with the attributes deciding and answering read. Not an ORM instance: nothing tracks it,
    and building and updating one cost ~5 % of a capture's CPU in instrumentation."""
    return SimpleNamespace(risk_score=None, model_version=None, decided_by=None, contributions=None, **row)


def store_pending(
    engine: Engine,
    caller: Principal,
    body: TransactionCreate,
    idempotency_key: str,
    idempotency_ttl: timedelta,
) -> CaptureResult:
    """A capture with an Idempotency-Key: commit the new PENDING row with its key (replayed=False), or find the
    answer stored under the key (replayed=True). Without a key the row goes to ``CaptureWriters.pending``."""
    fingerprint = request_fingerprint(body)
    # Two tries: the first may find an expired key, which stored_response deletes.
    for _ in range(2):
        row = new_row(caller, body)
        try:
            # Committed before the fraud call: the transaction survives whatever happens next.
            with engine.begin() as connection:  # the row and its key commit together
                statements(engine.dialect).insert_row.execute(connection, row).close()
                _insert_key(engine.dialect).execute(connection, {
                    "user_id": caller.user_id, "key": idempotency_key, "request_hash": fingerprint,
                    "transaction_id": row["id"], "created_at": row["created_at"],
                    "expires_at": row["created_at"] + idempotency_ttl}).close()
        except engine.dialect.loaded_dbapi.IntegrityError:  # the driver's own: the cursor is the DBAPI's
            with Session(engine) as session:
                original = stored_response(session, caller.user_id, idempotency_key, fingerprint)
            if original is not None:
                return CaptureResult(original, replayed=True)
            continue
        return CaptureResult(as_stored(row), replayed=False)
    # The key was taken again between our delete and insert: another request is using it right now.
    raise IdempotencyConflict()


@dataclass(frozen=True)
class TransactionCapture:
    """What a capture needs, put together once in the lifespan, so the route takes one dependency instead
    of four (FastAPI pays for each dependency on every request)."""

    engine: Engine
    fraud: FraudPredictor  # the client, or FraudBatches in front of it (FRAUD_BATCHING=on)
    policy: FallbackPolicy
    idempotency_ttl: timedelta
    rate_limit: RateLimiter
    writers: CaptureWriters  # the PENDING rows without a key and the decisions, committed with other captures'

    async def __call__(self, caller: Principal, body: TransactionCreate, idempotency_key: str | None) -> CaptureResult:
        engine = self.engine
        if idempotency_key is None:
            row = new_row(caller, body)
            await self.writers.pending.submit(row)  # committed before the fraud call, as store_pending's
            txn = as_stored(row)
        else:
            stored = await on_database(engine, store_pending, engine, caller, body, idempotency_key,
                                       self.idempotency_ttl)
            if stored.replayed:
                return stored
            txn = stored.transaction
        return CaptureResult(await decide(engine, self.fraud, self.policy, txn, self.writers.decisions),
                             replayed=False)
