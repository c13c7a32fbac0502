"""The review queue's membership and the aggregates kept beside the transactions, so the console's counts
and threshold what-if cost the same on ten thousand rows as on a million.

- ``review_queue_counts``: queued transactions per (status, decided_by, label).
- ``risk_label_buckets``: labelled, model-scored transactions per risk-score bucket and label.

Every change that moves a transaction between cells (its decision, a label, a release) updates them in
the same database transaction as the change itself.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, func, insert, select, true, update

from app.models import ANALYST, APPROVED, BLOCKED, FALLBACK, MODEL, ReviewQueueCount, RiskLabelBucket, Transaction

# The scoring contract: risk >= 0.5 is exactly the model's BLOCKED (ml_model/scoring.py).
BLOCK_RISK_SCORE = 0.5
RISK_BUCKETS = 1000
STATUSES = (BLOCKED, APPROVED)
DECIDED_BY = (MODEL, FALLBACK, ANALYST)
LABELS = ("none", "fraud", "legitimate")


def label_name(is_fraud: bool | None) -> str:
    return "none" if is_fraud is None else ("fraud" if is_fraud else "legitimate")


def enters_queue(status: str, risk_score: float | None, review_threshold: float) -> bool:
    """BLOCKED, or APPROVED in the review band (risk at or above the review threshold)."""
    return status == BLOCKED or (status == APPROVED and risk_score is not None and risk_score >= review_threshold)


def risk_bucket(risk_score: float) -> int:
    # The epsilon keeps a score that is exactly a bucket edge (0.57) in its bucket despite 0.57*1000 < 570.
    return min(int(risk_score * RISK_BUCKETS + 1e-9), RISK_BUCKETS - 1)


def move_queue_count(db, status: str, decided_by: str | None, label: str, delta: int) -> None:
    """db: a Session or Connection inside the caller's transaction."""
    db.execute(update(ReviewQueueCount)
               .where(ReviewQueueCount.status == status, ReviewQueueCount.decided_by == (decided_by or MODEL),
                      ReviewQueueCount.label == label)
               .values(transactions=ReviewQueueCount.transactions + delta))


def move_risk_bucket(db, risk_score: float | None, is_fraud: bool | None, amount: Decimal, delta: int) -> None:
    if risk_score is None or is_fraud is None:
        return  # decided by the fallback (no score) or not labelled: nothing for the what-if
    db.execute(update(RiskLabelBucket)
               .where(RiskLabelBucket.bucket == risk_bucket(risk_score), RiskLabelBucket.is_fraud == is_fraud)
               .values(transactions=RiskLabelBucket.transactions + delta,
                       amount=RiskLabelBucket.amount + delta * amount))


def rebuild_aggregates(connection) -> None:
    """Recount both tables from the transactions (after a bulk load that bypassed the service)."""
    cells = {(s, d, label): 0 for s in STATUSES for d in DECIDED_BY for label in LABELS}
    for status, decided_by, is_fraud, n in connection.execute(
            select(Transaction.status, Transaction.decided_by, Transaction.is_fraud, func.count())
            .where(Transaction.queued_for_review == true())
            .group_by(Transaction.status, Transaction.decided_by, Transaction.is_fraud)):
        key = (status, decided_by or MODEL, label_name(is_fraud))
        if key in cells:
            cells[key] += n
    connection.execute(delete(ReviewQueueCount))
    connection.execute(insert(ReviewQueueCount), [
        {"status": s, "decided_by": d, "label": label, "transactions": n} for (s, d, label), n in cells.items()])
    histogram: dict[tuple[int, bool], list] = {}
    rows = connection.execute(select(Transaction.risk_score, Transaction.is_fraud, Transaction.amount)
                              .where(Transaction.is_fraud.is_not(None), Transaction.risk_score.is_not(None)))
    for risk, is_fraud, amount in rows:
        cell = histogram.setdefault((risk_bucket(risk), is_fraud), [0, Decimal(0)])
        cell[0] += 1
        cell[1] += amount
    connection.execute(delete(RiskLabelBucket))
    connection.execute(insert(RiskLabelBucket), [
        {"bucket": b, "is_fraud": f, "transactions": histogram.get((b, f), (0, 0))[0],
         "amount": histogram.get((b, f), (0, Decimal(0)))[1]}
        for b in range(RISK_BUCKETS) for f in (False, True)])
