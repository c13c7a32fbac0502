"""Database tables: transactions, idempotency keys, the feedback outbox, and the analyst console's audit
trail and aggregates (SQLAlchemy 2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.statuses import PENDING


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in Python on every backend (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_customer_timestamp", "customer_id", "timestamp"),
        Index("ix_transactions_status_created", "status", "created_at"),
        Index("ix_transactions_terminal_timestamp", "terminal_id", "timestamp"),
        # The review queue is a few percent of the table: a partial index keeps its pages (and its keyset
        # pagination) independent of how many approved rows sit around it.
        Index("ix_transactions_review_queue", "timestamp", "id",
              sqlite_where=text("queued_for_review = 1"), postgresql_where=text("queued_for_review")),
        # The same per status: with the status index and the queue flag both selective, SQLite and
        # PostgreSQL otherwise intersect them and sort every BLOCKED row (10 ms at 100,000 rows, growing).
        Index("ix_transactions_review_queue_status", "status", "timestamp", "id",
              sqlite_where=text("queued_for_review = 1"), postgresql_where=text("queued_for_review")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[str] = mapped_column(String(64))
    terminal_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    risk_score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_version: Mapped[str | None] = mapped_column(String(128))
    # The fraud service's per-feature contributions ([{"feature", "value", "contribution"}], largest first)
    # behind risk_score and reasons, stored as answered; None for fallback decisions and older rows.
    contributions: Mapped[list[dict] | None] = mapped_column(JSON)
    decided_by: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The confirmed outcome set by an analyst; None until labelled.
    is_fraud: Mapped[bool | None] = mapped_column(Boolean)
    labelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set with the decision: BLOCKED, or APPROVED with a risk score at or above REVIEW_THRESHOLD. Never
    # cleared, so a transaction an analyst released stays findable in the queue.
    queued_for_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The decision an analyst overrode (release), kept so the model's call stays visible.
    original_status: Mapped[str | None] = mapped_column(String(16))
    original_decided_by: Mapped[str | None] = mapped_column(String(16))


class IdempotencyKey(Base):
    """One Idempotency-Key per caller; the unique constraint is what stops a concurrent duplicate."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The caller (token user_id), not the transaction's customer: staff keys are scoped to the staff user.
    user_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("transactions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class FeedbackOutbox(Base):
    """A label waiting to reach the fraud service; delivered_at is set once it accepted it."""

    __tablename__ = "feedback_outbox"
    __table_args__ = (Index("ix_feedback_outbox_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("transactions.id", ondelete="CASCADE"))
    is_fraud: Mapped[bool] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    labelled_by: Mapped[str | None] = mapped_column(String(150))


class AuditEntry(Base):
    """One analyst action on a transaction. Append-only: no code updates or deletes a row, and the
    database refuses it too (triggers in migration 0002)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_transaction", "transaction_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("transactions.id"))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(16))  # label, relabel, release
    before: Mapped[dict] = mapped_column(JSON)
    after: Mapped[dict] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewQueueCount(Base):
    """How many queued transactions have each (status, decided_by, label): the queue's counts without
    counting rows, as of the last fold. The moves since then are in review_queue_changes; a read adds both
    (app/services/review_queue.py)."""

    __tablename__ = "review_queue_counts"

    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    decided_by: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(16), primary_key=True)  # none, fraud, legitimate
    transactions: Mapped[int] = mapped_column(Integer, default=0)


class ReviewQueueChange(Base):
    """One move of a queued transaction into (+1) or out of (-1) a review_queue_counts cell, appended in
    the same commit as the change that moved it and folded into the counts in the background: no capture
    updates a row another capture updates."""

    __tablename__ = "review_queue_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(Integer)


class RiskLabelBucket(Base):
    """Labelled, model-scored transactions per risk-score bucket (width 1/RISK_BUCKETS) and label: the
    threshold what-if reads these few hundred rows instead of every labelled transaction."""

    __tablename__ = "risk_label_buckets"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_fraud: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    transactions: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
