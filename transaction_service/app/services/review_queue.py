"""The review queue's membership and the aggregates kept beside the transactions, so the console's counts
and threshold what-if cost the same on ten thousand rows as on a million.

- ``review_queue_counts``: queued transactions per (status, decided_by, label), as of the last fold, plus
  ``review_queue_changes``: the moves since then. Every change that moves a queued transaction between
  cells (its decision, a label, a release) appends its moves in the same database transaction as the
  change itself; ``queue_cells`` reads counts plus moves in one statement (one snapshot), so the counts
  are exact at any time, and ``fold_queue_changes`` (the maintenance loop) moves the moves into the
  counts. Appending, not updating the cell's row: most captures that enter the queue land in the same
  cell (BLOCKED by the model, unlabelled), and on PostgreSQL an UPDATE of that row made concurrent
  captures of different customers wait for each other's commit (tests/standing/test_capture_locks.py).
- ``risk_label_buckets``: labelled, model-scored transactions per risk-score bucket and label, updated
  with each label (analyst actions only, never a capture).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, delete, func, insert, select, text, true, union_all, update

from app.models import ReviewQueueChange, ReviewQueueCount, RiskLabelBucket, Transaction
from app.statuses import ANALYST, APPROVED, BLOCKED, FALLBACK, MODEL

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


_APPEND_MOVE = insert(ReviewQueueChange.__table__)  # built once: a capture only binds its values


def queue_move(status: str, decided_by: str | None, label: str, delta: int) -> dict:
    return {"status": status, "decided_by": decided_by or MODEL, "label": label, "delta": delta}


def move_queue_count(db, *moves: dict) -> None:
    """Append ``queue_move``s; db: a Session or Connection inside the caller's transaction."""
    db.execute(_APPEND_MOVE, list(moves) if len(moves) > 1 else moves[0])


def _cells_query():
    counts, changes = ReviewQueueCount.__table__, ReviewQueueChange.__table__
    both = union_all(select(counts.c.status, counts.c.decided_by, counts.c.label, counts.c.transactions.label("n")),
                     select(changes.c.status, changes.c.decided_by, changes.c.label,
                            changes.c.delta.label("n"))).subquery()
    return select(both.c.status, both.c.decided_by, both.c.label, func.sum(both.c.n)).group_by(
        both.c.status, both.c.decided_by, both.c.label)


_CELLS = _cells_query()


def queue_cells(db) -> dict[tuple[str, str, str], int]:
    """Queued transactions per (status, decided_by, label): the folded counts plus the moves not folded yet,
    in one statement (a fold committing meanwhile is seen whole or not at all)."""
    return {(status, decided_by, label): int(n) for status, decided_by, label, n in db.execute(_CELLS)}


_FOLD_LOCK = 1_701_720_418  # pg advisory lock key of the queue fold (any stable number, not the fraud service's)
# Adds the summed moves of {source} to the counts (the same upsert on both databases).
_ADD_TO_COUNTS = """
    INSERT INTO review_queue_counts (status, decided_by, label, transactions)
    SELECT status, decided_by, label, sum(delta) FROM {source} GROUP BY status, decided_by, label
    ON CONFLICT (status, decided_by, label) DO UPDATE
    SET transactions = review_queue_counts.transactions + excluded.transactions
"""
# PostgreSQL: the moves deleted and added in one statement, so one committed meanwhile is either folded or
# left for the next fold, never deleted unfolded.
_MOVED = "WITH moved AS (DELETE FROM review_queue_changes RETURNING status, decided_by, label, delta)"
_FOLD_POSTGRES = text(_MOVED + _ADD_TO_COUNTS.format(source="moved"))  # noqa: S608 (module constants)
# SQLite has one writer: inside the write transaction nothing commits between the two statements.
_FOLD_SQLITE = (text(_ADD_TO_COUNTS.format(source="review_queue_changes WHERE id <= :last")),  # noqa: S608
                text("DELETE FROM review_queue_changes WHERE id <= :last"))


def fold_queue_changes(engine: Engine) -> int:
    """Move the appended moves into review_queue_counts; returns how many cells it wrote (0: nothing to
    fold, or another worker is folding). Folds wait only for each other, never a capture for a fold."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _FOLD_LOCK}).scalar():
                return 0
            return conn.execute(_FOLD_POSTGRES).rowcount
        last = conn.execute(select(func.max(ReviewQueueChange.id))).scalar()
        if last is None:
            return 0
        written = conn.execute(_FOLD_SQLITE[0], {"last": last}).rowcount
        conn.execute(_FOLD_SQLITE[1], {"last": last})
        return written


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
    connection.execute(delete(ReviewQueueChange))
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
