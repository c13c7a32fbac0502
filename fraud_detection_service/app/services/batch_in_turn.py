"""A short /predict/batch scored row by row through /predict's own statements, in one database transaction.

The bulk path (``predictions._predict_together``) reads every transaction of the batch's customers in the hour
before it and computes the features over arrays: a fixed cost of ~3.5 ms a call, and a read that grows with a
busy customer's last hour (docs/performance.md). /predict reads a customer's last hour as totals. So a short
batch runs /predict's read, scoring and write for each row in turn, on one connection inside one transaction:
a later row's read sees the earlier rows' writes (as one /predict after another would), and the answers are
/predict's to the bit (same reads, same features, same arithmetic), with one commit for the batch.

On PostgreSQL each statement is a round trip, whose client side (the driver, the thread's wait and wake-up)
cost the service about as much as scoring the row (docs/performance.md). So the batch goes in runs of rows
that cannot see one another's writes (no customer, terminal or id twice in a run): a run's reads are one
statement and its writes one, which gives what its rows' reads and writes one after another would.

A batch of one run (no customer, terminal or id twice: the common case) is a read and a write, each atomic on
its own, so it runs without a transaction (as /predict's read and its record do): no BEGIN and COMMIT round
trips. Its write adds to its customers' day totals in key order, the order every other writer (/predict's
recorder, other batches) takes them in. A batch of several runs is one transaction, which holds the day
totals it adds to until its commit: it first locks its existing customer days in key order too. A deadlock
left (two first writes of one customer's day racing) is reported as ``Contended``: the caller then scores
the rows one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from fastapi_plumbing.database import autocommit
from fastapi_plumbing.prepared import Prepared
from fastapi_plumbing.unnest import arrays, by_column, names
from sqlalchemy import Connection, Dialect, Engine, Row, text
from sqlalchemy.exc import OperationalError

from app.db.tables import customer_days
from app.services import batch_store
from app.services.profile_store import SqlProfileStore
from app.services.risk_engine import RiskEngine, Verdict
from app.services.shadow import shadow_answer
from ml_model.features import features_from_history, history_reads
from ml_model.profile_store import Transaction

# PostgreSQL's SQLSTATE for a transaction chosen as a deadlock's victim.
_DEADLOCK = "40P01"


class Contended(Exception):
    """An id of the batch was recorded by another request meanwhile, or PostgreSQL broke a deadlock with it.
    ``recorded``: the rows of the batch that stay recorded all the same (a batch of one run writes without a
    transaction, and its statement inserts the other ids); in a transaction, none: it was rolled back."""

    def __init__(self, recorded: list[Scored] | None = None) -> None:
        super().__init__()
        self.recorded = recorded or []


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
    answers: list[Verdict] = []
    scored: list[Scored] = []
    judge = partial(_judge_run, risk=risk, challenger=challenger, stored_answer=stored_answer, answers=answers,
                    scored=scored)
    try:
        if db.dialect.name == "postgresql":
            runs = _independent_runs(txs)
            if len(runs) == 1:  # a read, then a write atomic on its own: without BEGIN and COMMIT, two round trips
                with autocommit(db) as conn:
                    judge(conn, txs)
                return answers, scored
        else:  # in process: no round trip to save, so one row at a time
            runs = [[tx] for tx in txs]
        try:
            with db.begin() as conn:
                if conn.dialect.name == "postgresql":
                    _lock_customer_days(conn, txs)
                for run in runs:
                    judge(conn, run)
        except Contended:
            raise Contended from None  # rolled back: nothing of the batch stays recorded
        return answers, scored
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) == _DEADLOCK:
            raise Contended from exc
        raise


def _independent_runs(txs: list[Transaction]) -> list[list[Transaction]]:
    """The batch cut into runs of consecutive rows whose reads cannot see one another's writes (no customer,
    terminal or id twice in a run): a run is read in one statement and written in one, which is what
    reading and writing its rows one after another would give."""
    runs: list[list[Transaction]] = []
    seen: set[tuple[str, str]] = set()
    for tx in txs:
        keys = {("customer", tx.customer_id), ("terminal", tx.terminal_id), ("id", tx.transaction_id)}
        if not runs or seen & keys:
            runs.append([])
            seen = set()
        runs[-1].append(tx)
        seen |= keys
    return runs


def _judge_run(conn: Connection, run: list[Transaction], *, risk: RiskEngine, challenger: RiskEngine | None,
               stored_answer: StoredAnswer, answers: list[Verdict], scored: list[Scored]) -> None:
    """Reads, judges and records one run (``_independent_runs``), adding its answers and judged rows."""
    store = SqlProfileStore(conn)
    wanted = [(tx.transaction_id, history_reads(tx, label_delay_days=risk.label_delay_days)) for tx in run]
    judged: list[tuple[Transaction, Scored]] = []
    for tx, (_, reads), (known, history) in zip(run, wanted, store.known_or_histories(wanted), strict=True):
        if known is not None:  # recorded before, or earlier in this batch: its stored answer, as /predict
            answers.append(stored_answer(tx.transaction_id, known))
            continue
        features = features_from_history(tx, reads, *history)  # type: ignore[misc] - unknown id: read
        verdict = risk.judge_one(features, tx)
        answers.append(verdict)
        judged.append((tx, Scored(features, verdict, shadow_answer(challenger, features))))
    inserted = batch_store.write_batch(conn, [tx for tx, _ in judged], [one.verdict for _, one in judged],
                                       [one.shadow for _, one in judged])
    if not all(inserted):  # an id recorded by another request since our read
        raise Contended([one for (_, one), stored in zip(judged, inserted, strict=True) if stored])
    scored.extend(one for _, one in judged)


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
