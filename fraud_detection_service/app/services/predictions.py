"""Scoring and labelling against the profile store: what /predict and /feedback do.

A prediction reads the history and whether its id is already recorded (one statement on PostgreSQL), judges,
and answers; recording the transaction with its answer is a separate step (``record``), which /predict
runs after its answer has gone out, committed together with the other answers' records of the moment
(app/services/recorder.py). A known id answers its stored first answer, and is never judged with its
own first attempt counted in its history.

Reads run in autocommit on PostgreSQL (at READ COMMITTED every statement sees its own snapshot inside a
transaction too, so BEGIN and COMMIT were two round trips that changed nothing: docs/performance.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from fastapi_plumbing.database import autocommit
from sqlalchemy import Engine, Row

from app.core.metrics import DECISIONS, FEEDBACK
from app.services import batch_store
from app.services.batch_in_turn import Contended, Scored, predict_in_turn
from app.services.drift import MONITOR as DRIFT
from app.services.profile_store import SCORED_COLUMNS, SqlProfileStore
from app.services.risk_engine import RiskEngine, Verdict
from app.services.shadow import count as shadow_count
from app.services.shadow import shadow_answer, shadow_answers
from ml_model.features import features_from_history, history_reads, online_features_batch
from ml_model.profile_store import Transaction


class RecordedWithoutDecision(Exception):
    """The id was recorded through /feedback (the caller's fallback decided) and was never scored:
    scoring it now would count the transaction in its own history, so there is no honest model answer."""


class UnknownTransaction(Exception):
    """A label for an id never recorded, sent without the fields to record it."""


@dataclass(frozen=True, eq=False)
class Record:
    """A judged transaction to record: its row, with the answer given and the challenger's (``shadow``)."""
    tx: Transaction
    verdict: Verdict
    shadow: dict[str, Any]


def judge(db: Engine, risk: RiskEngine, tx: Transaction,
          challenger: RiskEngine | None = None) -> tuple[Verdict, Record | None]:
    """The answer to ``tx``, and what to record: None when the id is known (the answer is its stored one).
    ``risk`` decides; ``challenger``, when given, scores the same features in shadow (app/services/shadow.py)."""
    reads = history_reads(tx, label_delay_days=risk.label_delay_days)
    with autocommit(db) as conn:  # released before the model runs
        known, history = SqlProfileStore(conn).known_or_history(tx.transaction_id, reads)
    if known is not None:  # a retry, or a request that recorded it first: its answer is the answer
        return _verdict_of(tx.transaction_id, known), None
    features = features_from_history(tx, reads, *history)
    verdict = risk.judge_one(features, tx)
    shadow = shadow_answer(challenger, features)
    DECISIONS.labels(verdict.decision).inc()
    shadow_count(shadow, verdict.decision)
    DRIFT.record(risk, features, verdict.risk_score)
    return verdict, Record(tx, verdict, shadow)


def record(db: Engine, records: list[Record]) -> list[bool]:
    """Record the transactions with their answers and add them to their day totals, in one transaction
    (one statement on PostgreSQL); returns, per record, whether it was inserted (False: its id was
    recorded meanwhile by another request, and nothing of it was counted)."""
    with autocommit(db) as conn:
        return batch_store.write_batch(conn, [r.tx for r in records], [r.verdict for r in records],
                                       [r.shadow for r in records])


def predict(db: Engine, risk: RiskEngine, tx: Transaction, challenger: RiskEngine | None = None) -> Verdict:
    """``judge`` and ``record`` at once (no recorder in between): the answer once recorded."""
    verdict, scored = judge(db, risk, tx, challenger)
    if scored is not None and not record(db, [scored])[0]:
        # Recorded meanwhile by a concurrent request: its answer is the answer.
        with db.connect() as conn:
            return _stored_verdict(SqlProfileStore(conn), tx.transaction_id)
    return verdict


def predict_many(db: Engine, risk: RiskEngine, txs: list[Transaction],
                 challenger: RiskEngine | None = None) -> list[Verdict]:
    """The answers ``predict`` gives the transactions one after another (a later one sees the earlier ones
    in its history; a known id gets its first answer), in one database transaction: the history read in
    bulk (app/services/batch_store.py), every stage over the whole batch (features, scores, contributions),
    the batch written in three statements. Up to ``IN_TURN_MAX`` rows (``scored_in_turn``) with /predict's
    own reads and scoring instead: on SQLite row by row, on PostgreSQL in runs of rows that cannot see
    each other's writes, one read and one write per run (app/services/batch_in_turn.py)."""
    try:
        if scored_in_turn(len(txs)):
            return _predict_in_turn(db, risk, txs, challenger)
        return _predict_together(db, risk, txs, challenger)
    except Contended as contended:
        # Another request recorded one of the ids between our read and our insert: the one-at-a-time path
        # settles who was first, id by id (the rows this batch recorded all the same answer their stored answer).
        _count(risk, contended.recorded)
        return [predict(db, risk, tx, challenger) for tx in txs]


# Up to this many rows a batch is scored row by row (batch_in_turn): measured on the fraud service, per row
# cheaper than the bulk path's fixed cost and its read of the customers' last hour (docs/performance.md).
IN_TURN_MAX = 16


def scored_in_turn(rows: int) -> bool:
    """Whether a batch of ``rows`` transactions is scored row by row (``_predict_in_turn``) rather than by the
    bulk path: the one decision ``predict_many`` and /predict/batch's route both follow (the route runs such a
    batch where /predict's work runs, a longer one in the threadpool), so the two cannot disagree."""
    return rows <= IN_TURN_MAX


def _predict_in_turn(db: Engine, risk: RiskEngine, txs: list[Transaction],
                     challenger: RiskEngine | None) -> list[Verdict]:
    answers, scored = predict_in_turn(db, risk, txs, challenger, _verdict_of)
    _count(risk, scored)
    return answers


def _count(risk: RiskEngine, recorded: list[Scored]) -> None:
    """The metrics of rows judged row by row, once recorded, as /predict counts its answers."""
    for row in recorded:
        DECISIONS.labels(row.verdict.decision).inc()
        shadow_count(row.shadow, row.verdict.decision)
        DRIFT.record(risk, row.features, row.verdict.risk_score)


def _predict_together(db: Engine, risk: RiskEngine, txs: list[Transaction],
                      challenger: RiskEngine | None) -> list[Verdict]:
    with db.begin() as conn:
        known = batch_store.known_answers(conn, [tx.transaction_id for tx in txs])
        first: dict[str, Transaction] = {}  # the new ids, each with its first occurrence, in batch order
        for tx in txs:
            if tx.transaction_id not in known:
                first.setdefault(tx.transaction_id, tx)
        fresh = list(first.values())
        history = batch_store.read_history(conn, fresh, risk.label_delay_days)
        features = online_features_batch(fresh, history, label_delay_days=risk.label_delay_days)
        verdicts = risk.judge(features, fresh) if fresh else []
        shadows = shadow_answers(challenger, features)
        if not all(batch_store.write_batch(conn, fresh, verdicts, shadows)):
            raise Contended
        answer_of = dict(zip(first, verdicts, strict=True))
        answers = [answer_of.get(tx.transaction_id) or _verdict_of(tx.transaction_id, known[tx.transaction_id])
                   for tx in txs]
    for outcome, count in Counter(verdict.decision for verdict in verdicts).items():
        DECISIONS.labels(outcome).inc(count)
    for shadow, verdict in zip(shadows, verdicts, strict=True):
        shadow_count(shadow, verdict.decision)
    if verdicts:
        DRIFT.record_many(risk, features, [verdict.risk_score for verdict in verdicts])
    return answers


def _stored_verdict(store: SqlProfileStore, transaction_id: str) -> Verdict:
    """The answer already stored for an id whose insert just found it there (so the row exists)."""
    row = store.scored_result(transaction_id)
    if row is None:  # not an assert: it must hold with -O too
        raise RuntimeError(f"transaction {transaction_id} conflicted on insert but is not stored")
    return _verdict_of(transaction_id, row)


def _verdict_of(transaction_id: str, row: Row) -> Verdict:
    """The stored answer of a recorded transaction (``SCORED_COLUMNS``)."""
    if row.decision is None:
        raise RecordedWithoutDecision(transaction_id)
    # Recorded before contributions were stored (migration 0003): none to give.
    stored = {name: getattr(row, name) for name in SCORED_COLUMNS}
    return Verdict(**{**stored, "contributions": row.contributions or []})


def record_feedback(db: Engine, transaction_id: str, is_fraud: bool, tx: Transaction | None) -> bool:
    """Record the label; returns whether the transaction itself was recorded by this call.
    An unknown id without transaction fields raises UnknownTransaction, and nothing is written."""
    with db.begin() as conn:
        store = SqlProfileStore(conn)
        recorded = store.record_transaction(tx) if tx is not None else False
        if not store.record_label(transaction_id, is_fraud):
            raise UnknownTransaction(transaction_id)
    FEEDBACK.labels(str(is_fraud).lower()).inc()
    return recorded
