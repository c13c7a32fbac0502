"""Scoring and labelling against the profile store: what /predict and /feedback do.

A prediction is one connection and one short transaction: read the history, judge, record the
transaction with its verdict. Idempotency rests on the insert's ON CONFLICT alone (no read of the id
first): a retried id is judged again, the insert then finds the stored row and its first answer is
returned, so the common case saves a statement and the rare retry pays one extra.

Locks stay brief: on SQLite the driver begins the write transaction at the first INSERT (reads before
it take no lock, and WAL lets them run beside a writer); on PostgreSQL the reads take no row locks.
"""

from __future__ import annotations

from sqlalchemy import Engine

from app.api.errors import ApiError
from app.core.metrics import DECISIONS, FEEDBACK
from app.drift import MONITOR as DRIFT
from app.profile_store import SqlProfileStore
from app.risk_engine import RiskEngine, Verdict
from app.shadow import count as shadow_count
from app.shadow import shadow_answer
from ml_model.features import online_features
from ml_model.profile_store import Transaction


def predict(db: Engine, risk: RiskEngine, tx: Transaction, challenger: RiskEngine | None = None) -> Verdict:
    """``risk`` decides; ``challenger``, when given, scores the same features in shadow (app/shadow.py)."""
    with db.begin() as conn:
        store = SqlProfileStore(conn)
        features = online_features(tx, store, label_delay_days=risk.label_delay_days)
        verdict = risk.judge_one(features, tx)
        shadow = shadow_answer(challenger, features)
        if not store.record_scored(tx, {**verdict.as_dict(), **shadow}):
            # Known id (a retry, or a concurrent request that recorded first): its answer is the answer.
            earlier = _stored_verdict(store, tx.transaction_id)
            assert earlier is not None
            return earlier
    DECISIONS.labels(verdict.decision).inc()
    shadow_count(shadow, verdict.decision)
    DRIFT.record(risk, features, verdict.risk_score)
    return verdict


def predict_many(db: Engine, risk: RiskEngine, txs: list[Transaction],
                 challenger: RiskEngine | None = None) -> list[Verdict]:
    """``predict`` for each transaction in order (a later one sees the earlier ones in its history)."""
    return [predict(db, risk, tx, challenger) for tx in txs]


def _stored_verdict(store: SqlProfileStore, transaction_id: str) -> Verdict | None:
    row = store.scored_result(transaction_id)
    if row is None:
        return None
    if row.decision is None:
        # Recorded through /feedback (the caller's fallback decided). Scoring it now would count the
        # transaction in its own history, so there is no honest model answer to give.
        raise ApiError(409, "transaction_id", "already recorded without a model decision (labelled via /feedback)")
    # Recorded before contributions were stored (migration 0003): none to give.
    return Verdict(**{**row._asdict(), "contributions": row.contributions or []})


def record_feedback(db: Engine, transaction_id: str, is_fraud: bool, tx: Transaction | None) -> bool:
    """Record the label; returns whether the transaction itself was recorded by this call.
    Unknown id without transaction fields → 404, and nothing is written."""
    with db.begin() as conn:
        store = SqlProfileStore(conn)
        recorded = store.record_transaction(tx) if tx is not None else False
        if not store.record_label(transaction_id, is_fraud):
            raise ApiError(404, "transaction_id", "unknown transaction; send customer_id, terminal_id, "
                                                  "amount and timestamp to record it with its label")
    FEEDBACK.labels(str(is_fraud).lower()).inc()
    return recorded
