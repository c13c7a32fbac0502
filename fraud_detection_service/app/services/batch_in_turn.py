"""A short /predict/batch scored row by row through /predict's own statements, in one database transaction.

The bulk path (``predictions._predict_together``) reads every transaction of the batch's customers in the hour
before it and computes the features over arrays: a fixed cost of ~3.5 ms a call, and a read that grows with a
busy customer's last hour (docs/performance.md). /predict reads a customer's last hour as totals. So a short
batch runs /predict's read, scoring and write for each row in turn, on one connection inside one transaction:
a later row's read sees the earlier rows' writes (as one /predict after another would), and the answers are
/predict's to the bit (same reads, same features, same arithmetic), with one commit for the batch.

PostgreSQL: each row's write adds to its customer's day total, which locks that row until the commit; other
writers (/predict's recorder, other batches) lock them in key order, so this transaction first locks the
batch's existing customer days in that order too, and a deadlock left (two first writes of one customer's day
racing) is reported as ``Contended``: the caller then scores the rows one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi_plumbing.prepared import Prepared
from fastapi_plumbing.unnest import arrays, by_column, names
from sqlalchemy import Connection, Dialect, Engine, Row, text
from sqlalchemy.exc import OperationalError

from app.db.tables import customer_days
from app.services.profile_store import SqlProfileStore
from app.services.risk_engine import RiskEngine, Verdict
from app.services.shadow import shadow_answer
from ml_model.features import features_from_history, history_reads
from ml_model.profile_store import Transaction

# PostgreSQL's SQLSTATE for a transaction chosen as a deadlock's victim.
_DEADLOCK = "40P01"


class Contended(Exception):
    """An id of the batch was recorded by another request meanwhile, or PostgreSQL broke a deadlock with it:
    the transaction was rolled back and nothing of the batch was written."""


@dataclass(frozen=True, eq=False)
class Scored:
    """A row this batch judged and recorded (the metrics are counted once the batch is committed)."""
    features: dict[str, float]
    verdict: Verdict
    shadow: dict[str, Any]


StoredAnswer = Callable[[str, Row], Verdict]


def predict_in_turn(db: Engine, risk: RiskEngine, txs: list[Transaction], challenger: RiskEngine | None,
                    stored_answer: StoredAnswer) -> tuple[list[Verdict], list[Scored]]:
    """Each row's answer, in order, and the rows judged by this call. ``stored_answer(id, row)``: the answer of
    an id already recorded (``predictions._verdict_of``, which raises for an id recorded without a decision)."""
    try:
        with db.begin() as conn:
            if conn.dialect.name == "postgresql":
                _lock_customer_days(conn, txs)
            return _in_turn(SqlProfileStore(conn), risk, txs, challenger, stored_answer)
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) == _DEADLOCK:
            raise Contended from exc
        raise


def _in_turn(store: SqlProfileStore, risk: RiskEngine, txs: list[Transaction], challenger: RiskEngine | None,
             stored_answer: StoredAnswer) -> tuple[list[Verdict], list[Scored]]:
    answers: list[Verdict] = []
    scored: list[Scored] = []
    for tx in txs:
        reads = history_reads(tx, label_delay_days=risk.label_delay_days)
        known, history = store.known_or_history(tx.transaction_id, reads)
        if known is not None:  # recorded before, or earlier in this batch: its stored answer, as /predict
            answers.append(stored_answer(tx.transaction_id, known))
            continue
        features = features_from_history(tx, reads, *history)  # type: ignore[misc] - unknown id: read
        verdict = risk.judge_one(features, tx)
        shadow = shadow_answer(challenger, features)
        if not store.record_scored(tx, {**verdict.stored_columns(), **shadow}):
            raise Contended  # recorded by another request since our read: rolled back with the whole batch
        answers.append(verdict)
        scored.append(Scored(features, verdict, shadow))
    return answers, scored


_KEYS = ("customer_id", "day")


@cache
def _lock_statement(dialect: Dialect) -> Prepared:
    """The batch's existing customer days, locked in key order. The keys go as one array per column, so the
    statement is prepared once per connection whatever the batch's length (an IN list is new SQL text, parsed
    and planned anew, for every length)."""
    keys = [customer_days.c[name] for name in _KEYS]
    arguments, params = arrays(dialect, keys)
    return Prepared.compile(text(
        f"SELECT d.customer_id FROM customer_days AS d JOIN unnest({arguments}) AS k ({names(keys)}) "  # noqa: S608 (our own names)
        "USING (customer_id, day) ORDER BY d.customer_id, d.day FOR UPDATE OF d").bindparams(*params), dialect)


def _lock_customer_days(conn: Connection, txs: list[Transaction]) -> None:
    keys = sorted({(tx.customer_id, tx.timestamp.date()) for tx in txs})
    _lock_statement(conn.dialect).execute(conn, by_column(keys, _KEYS)).close()
