"""Reads behind the analyst console: the review queue (keyset pages, faceted counts), a transaction's
context, the overview and the threshold what-if.

Cost does not grow with the table: queue pages walk the partial index of queued rows from the cursor;
counts come from review_queue_counts (plus the moves not folded yet) unless a customer, terminal or date
filter narrows the queue (then they are counted over the narrowed rows, through the customer/terminal
indexes or the queue's own); the what-if reads risk_label_buckets (2,000 rows whatever the number of labels).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from sqlalchemy import case, func, or_, select, true, tuple_
from sqlalchemy.orm import Session

from app.models import AuditEntry, FeedbackOutbox, RiskLabelBucket, Transaction, utcnow
from app.services.feedback import SUPERSEDED
from app.services.review_queue import DECIDED_BY, LABELS, RISK_BUCKETS, STATUSES, queue_cells
from app.staff_schemas import (
    AuditEntryOut,
    CustomerHistory,
    DecisionStats,
    LabelDelivery,
    LabelEvent,
    Overview,
    QueueCounts,
    StaffTransaction,
    TerminalRisk,
    TerminalWindow,
    TransactionDetail,
    WhatIf,
    WhatIfRow,
)
from app.statuses import ANALYST, APPROVED, BLOCKED, FALLBACK, MODEL

HISTORY_DAYS = 30
HISTORY_LIMIT = 100
TERMINAL_WINDOWS = (7, 30)


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None
    decided_by: str | None = None
    label: str | None = None  # none, fraud, legitimate, labelled
    customer_id: str | None = None
    terminal_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def narrows_scope(self) -> bool:
        return any(v is not None for v in (self.customer_id, self.terminal_id, self.since, self.until))


def encode_cursor(txn: Transaction) -> str:
    return base64.urlsafe_b64encode(f"{txn.timestamp.isoformat()}|{txn.id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor("not a cursor returned by this API") from None


def _label_condition(label: str):
    if label == "none":
        return Transaction.is_fraud.is_(None)
    if label == "labelled":
        return Transaction.is_fraud.is_not(None)
    return Transaction.is_fraud.is_(label == "fraud")


def _scope_conditions(f: QueueFilter) -> list:
    conditions = [Transaction.queued_for_review == true()]
    if f.customer_id is not None:
        conditions.append(Transaction.customer_id == f.customer_id)
    if f.terminal_id is not None:
        conditions.append(Transaction.terminal_id == f.terminal_id)
    if f.since is not None:
        conditions.append(Transaction.timestamp >= f.since)
    if f.until is not None:
        conditions.append(Transaction.timestamp < f.until)
    return conditions


def queue_page(session: Session, f: QueueFilter, limit: int,
               cursor: str | None) -> tuple[list[Transaction], str | None]:
    conditions = _scope_conditions(f)
    if f.status is not None:
        conditions.append(Transaction.status == f.status)
    if f.decided_by is not None:
        conditions.append(Transaction.decided_by == f.decided_by)
    if f.label is not None:
        conditions.append(_label_condition(f.label))
    if cursor is not None:
        when, ident = decode_cursor(cursor)
        conditions.append(tuple_(Transaction.timestamp, Transaction.id) < tuple_(when, ident))
    rows = session.scalars(select(Transaction).where(*conditions)
                           .order_by(Transaction.timestamp.desc(), Transaction.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def _cells(session: Session, f: QueueFilter) -> dict[tuple[str, str, str], int]:
    """Queued transactions per (status, decided_by, label) within the filter's scope."""
    if not f.narrows_scope:
        return queue_cells(session)
    label = case((Transaction.is_fraud.is_(None), "none"), (Transaction.is_fraud.is_(True), "fraud"),
                 else_="legitimate")
    rows = session.execute(select(Transaction.status, Transaction.decided_by, label, func.count())
                           .where(*_scope_conditions(f))
                           .group_by(Transaction.status, Transaction.decided_by, label)).all()
    return {(status, decided_by or MODEL, lab): n for status, decided_by, lab, n in rows}


def queue_counts(session: Session, f: QueueFilter) -> QueueCounts:
    cells = _cells(session, f)

    def matches(key: tuple[str, str, str], skip: str) -> bool:
        status, decided_by, label = key
        if skip != "status" and f.status is not None and status != f.status:
            return False
        if skip != "decided_by" and f.decided_by is not None and decided_by != f.decided_by:
            return False
        if skip != "label" and f.label is not None:
            if f.label == "labelled" and label == "none":
                return False
            if f.label != "labelled" and label != f.label:
                return False
        return True

    def facet(position: int, name: str, values: tuple[str, ...]) -> dict[str, int]:
        counted = {value: 0 for value in values}
        for key, n in cells.items():
            if matches(key, name) and key[position] in counted:
                counted[key[position]] += n
        return counted

    labels = facet(2, "label", LABELS)
    labels["labelled"] = labels["fraud"] + labels["legitimate"]
    return QueueCounts(total=sum(n for key, n in cells.items() if matches(key, "")),
                       status=facet(0, "status", STATUSES), decided_by=facet(1, "decided_by", DECIDED_BY),
                       label=labels)


def transaction_detail(session: Session, txn: Transaction) -> TransactionDetail:
    window_start = txn.timestamp - timedelta(days=HISTORY_DAYS)
    in_window = (Transaction.customer_id == txn.customer_id, Transaction.timestamp >= window_start,
                 Transaction.timestamp <= txn.timestamp)
    history = session.scalars(select(Transaction).where(*in_window)
                              .order_by(Transaction.timestamp.desc(), Transaction.id.desc())
                              .limit(HISTORY_LIMIT)).all()
    total, blocked, frauds = session.execute(select(
        func.count(), func.count().filter(Transaction.status == BLOCKED),
        func.count().filter(Transaction.is_fraud.is_(True))).where(*in_window)).one()
    windows = []
    for days in TERMINAL_WINDOWS:
        labelled, fraud_count = session.execute(select(
            func.count(), func.count().filter(Transaction.is_fraud.is_(True)))
            .where(Transaction.terminal_id == txn.terminal_id, Transaction.is_fraud.is_not(None),
                   Transaction.timestamp >= txn.timestamp - timedelta(days=days),
                   Transaction.timestamp <= txn.timestamp)).one()
        windows.append(TerminalWindow(days=days, labelled=labelled, frauds=fraud_count,
                                      fraud_rate=fraud_count / labelled if labelled else None))
    entries = session.scalars(select(FeedbackOutbox).where(FeedbackOutbox.transaction_id == txn.id)
                              .order_by(FeedbackOutbox.id)).all()
    labels = [LabelEvent(is_fraud=e.is_fraud, labelled_by=e.labelled_by, at=e.created_at, attempts=e.attempts,
                         feedback="queued" if e.delivered_at is None
                         else "superseded" if e.last_error == SUPERSEDED else "delivered")
              for e in entries]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.transaction_id == txn.id).order_by(AuditEntry.id)).all()
    return TransactionDetail(
        transaction=StaffTransaction.model_validate(txn),
        contributions=txn.contributions,
        customer_history=CustomerHistory(window_days=HISTORY_DAYS, total=total, blocked=blocked, labelled_fraud=frauds,
                                         transactions=[StaffTransaction.model_validate(t) for t in history]),
        terminal=TerminalRisk(terminal_id=txn.terminal_id, windows=windows),
        labels=labels,
        audit=[AuditEntryOut.model_validate(a) for a in audit],
    )


def _decision_stats(session: Session, since: datetime) -> DecisionStats:
    # created_at is indexed with status; a live capture is decided within its request, so it is the decision time.
    cells = (Transaction.status, Transaction.decided_by, Transaction.queued_for_review)
    rows = session.execute(select(*cells, func.count())
                           .where(Transaction.status.in_((APPROVED, BLOCKED)), Transaction.created_at >= since)
                           .group_by(*cells)).all()
    approved = sum(n for s, _, _, n in rows if s == APPROVED)
    blocked = sum(n for s, _, _, n in rows if s == BLOCKED)
    band = sum(n for s, _, q, n in rows if s == APPROVED and q)
    fallback = sum(n for _, d, _, n in rows if d == FALLBACK)
    decisions = approved + blocked
    return DecisionStats(decisions=decisions, approved=approved, blocked=blocked, review_band=band, fallback=fallback,
                         block_rate=blocked / decisions if decisions else None,
                         fallback_share=fallback / decisions if decisions else None)


def overview(session: Session, review_threshold: float, block_risk_score: float) -> Overview:
    now = utcnow()
    cells = queue_cells(session)
    queued_labels = session.scalar(select(func.count()).where(FeedbackOutbox.delivered_at.is_(None)))
    delivered = session.scalar(select(func.count()).where(
        FeedbackOutbox.delivered_at.is_not(None),
        or_(FeedbackOutbox.last_error.is_(None), FeedbackOutbox.last_error != SUPERSEDED)))
    return Overview(
        generated_at=now,
        last_hour=_decision_stats(session, now - timedelta(hours=1)),
        last_day=_decision_stats(session, now - timedelta(days=1)),
        unlabelled_blocked=sum(n for (s, _, label), n in cells.items() if s == BLOCKED and label == "none"),
        unlabelled_review_band=sum(n for (s, d, label), n in cells.items()
                                   if s == APPROVED and d != ANALYST and label == "none"),
        labels=LabelDelivery(delivered=delivered, queued=queued_labels),
        block_risk_score=block_risk_score, review_threshold=review_threshold,
    )


def what_if(session: Session, review_threshold: float, block_risk_score: float, step: float) -> WhatIf:
    counts = {False: [0] * RISK_BUCKETS, True: [0] * RISK_BUCKETS}
    cents = {False: [0] * RISK_BUCKETS, True: [0] * RISK_BUCKETS}
    # Every bucket, the same 2,000 rows and the same work whether ten or a million transactions are
    # labelled. Read as the driver's tuples and summed in integer cents: SQLAlchemy's per-row Numeric
    # conversion and Decimal arithmetic made the cost grow as labels filled the buckets (1.5x at 1,000,000).
    table = RiskLabelBucket.__table__
    rows = session.connection().exec_driver_sql(
        f"SELECT bucket, is_fraud, transactions, amount FROM {table.name}").all()  # noqa: S608 (a constant name)
    for bucket, is_fraud, n, amount in rows:
        counts[bool(is_fraud)][bucket] = n
        cents[bool(is_fraud)][bucket] = round(amount * 100)  # a REAL on SQLite, a Decimal on PostgreSQL
    # Suffix sums: at threshold k/RISK_BUCKETS everything in bucket k and above is blocked.
    above = {flag: list(accumulate(reversed(counts[flag]), initial=0))[::-1] for flag in (False, True)}
    above_cents = {flag: list(accumulate(reversed(cents[flag]), initial=0))[::-1] for flag in (False, True)}
    frauds, legitimate = above[True][0], above[False][0]
    fraud_cents = above_cents[True][0]
    labelled = frauds + legitimate
    step_buckets = max(1, round(step * RISK_BUCKETS))
    marks = {round(block_risk_score * RISK_BUCKETS): "block", round(review_threshold * RISK_BUCKETS): "review"}
    edges = sorted(set(range(0, RISK_BUCKETS + 1, step_buckets)) | set(marks))
    out = []
    for k in edges:
        caught, wrongly = above[True][k], above[False][k]
        out.append(WhatIfRow(
            threshold=k / RISK_BUCKETS, frauds_caught=caught, fraud_share=caught / frauds if frauds else None,
            fraud_amount_caught=Decimal(above_cents[True][k]).scaleb(-2),
            fraud_amount_share=above_cents[True][k] / fraud_cents if fraud_cents else None,
            legitimate_blocked=wrongly, legitimate_amount_blocked=Decimal(above_cents[False][k]).scaleb(-2),
            alert_rate=(caught + wrongly) / labelled if labelled else None,
            precision=caught / (caught + wrongly) if caught + wrongly else None,
            current=[name for edge, name in marks.items() if edge == k]))
    return WhatIf(labelled=labelled, frauds=frauds, legitimate=legitimate, block_risk_score=block_risk_score,
                  review_threshold=review_threshold, rows=out)
