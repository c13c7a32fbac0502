"""Scoring and labelling against the profile store: what /predict and /feedback do.

A prediction reads the history on one connection, judges without holding a transaction open, then
records the transaction with its verdict in a short write transaction. Splitting read and write keeps
SQLite's single writer lock brief; the insert's ON CONFLICT still makes recording idempotent.
"""

from __future__ import annotations

from sqlalchemy import Engine

from app.api.errors import ApiError
from app.core.metrics import DECISIONS, FEEDBACK
from app.profile_store import SqlProfileStore
from app.risk_engine import RiskEngine, Verdict
from ml_model.features import online_features
from ml_model.profile_store import Transaction


def predict(db: Engine, risk: RiskEngine, tx: Transaction) -> Verdict:
    with db.connect() as conn:
        store = SqlProfileStore(conn)
        earlier = _stored_verdict(store, tx.transaction_id)
        if earlier is not None:
            return earlier
        features = online_features(tx, store, label_delay_days=risk.label_delay_days)
    verdict = risk.judge([features])[0]
    with db.begin() as conn:
        store = SqlProfileStore(conn)
        if not store.record_scored(tx, verdict.as_dict()):
            # A concurrent request for the same id recorded first: its answer is the answer.
            winner = _stored_verdict(store, tx.transaction_id)
            assert winner is not None
            return winner
    DECISIONS.labels(verdict.decision).inc()
    return verdict


def _stored_verdict(store: SqlProfileStore, transaction_id: str) -> Verdict | None:
    row = store.scored_result(transaction_id)
    if row is None:
        return None
    if row.decision is None:
        # Recorded through /feedback (the caller's fallback decided). Scoring it now would count the
        # transaction in its own history, so there is no honest model answer to give.
        raise ApiError(409, "transaction_id", "already recorded without a model decision (labelled via /feedback)")
    return Verdict(**row._asdict())


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
