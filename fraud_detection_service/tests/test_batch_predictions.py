"""/predict/batch scores a batch together (history read in bulk, every row scored at once, one database
transaction; a short batch row by row through /predict's statements, in one transaction) and must answer
exactly what /predict answers one transaction after another."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest
from fastapi_plumbing.prepared import Prepared
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from app.db.engine import make_engine
from app.db.migrations import upgrade_to_head
from app.db.tables import customer_days, terminal_days, transactions
from app.services import batch_in_turn
from app.services.predictions import IN_TURN_MAX, predict, predict_many, scored_in_turn
from app.services.risk_engine import RiskEngine, Verdict
from ml_model.profile_store import Transaction
from ml_model.simulate import simulate_transactions


@pytest.fixture
def two_engines(databases) -> Iterator[tuple[Engine, Engine]]:
    engines = []
    for label in ("single", "batch"):
        url = databases.create(label)
        upgrade_to_head(url)
        engines.append(make_engine(url))
    yield engines[0], engines[1]
    for engine in engines:
        engine.dispose()


def _stream() -> list[Transaction]:
    """Forty days of simulated traffic, with what a caller also sends: an id twice in one batch, and a
    transaction arriving after later ones of its customer (a late capture)."""
    raw = simulate_transactions(days=40, customers=60, terminals=40, seed=11, start_date="2026-05-01")
    txs = [Transaction(str(r.transaction_id), str(r.customer_id), str(r.terminal_id), float(r.tx_amount),
                       r.tx_datetime.to_pydatetime()) for r in raw.itertuples()]
    late = txs.pop(len(txs) // 2)
    txs.insert(len(txs) // 2 + 40, late)
    txs.insert(len(txs) // 2 + 60, txs[len(txs) // 2 + 50])  # the same id again, within one batch
    return txs


def _rows(engine: Engine) -> tuple[list, list, list]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(table).order_by(*table.primary_key.columns)).all()
                     for table in (transactions, customer_days, terminal_days))


def _exact(verdict: Verdict) -> dict:
    return {**verdict.as_dict(), "contributions": [(c["feature"], c["contribution"]) for c in verdict.contributions]}


def _values(verdict: Verdict) -> list[float]:
    return [c["value"] for c in verdict.contributions]


def _answer(row) -> dict:
    """A stored row but its recording time, contributions without the feature values (see above)."""
    answer = {name: value for name, value in row._asdict().items() if name != "recorded_at"}
    return {**answer, "contributions": [(c["feature"], c["contribution"]) for c in row.contributions or []]}


@pytest.mark.parametrize("size", [500, IN_TURN_MAX], ids=["bulk", "in_turn"])
@pytest.mark.parametrize(("champion", "challenger"), [("model_dir", "second_model_dir"),
                                                     ("hybrid_model_dir", "model_dir")])
def test_a_batch_answers_and_stores_what_one_prediction_after_another_does(two_engines, request, champion,
                                                                           challenger, size):
    single_db, batch_db = two_engines
    risk, challenger = (RiskEngine.load(request.getfixturevalue(name)) for name in (champion, challenger))
    txs = _stream()
    assert len(txs) > 1500

    one_by_one = [predict(single_db, risk, tx, challenger) for tx in txs]
    together = []
    for start in range(0, len(txs), size):
        together += predict_many(batch_db, risk, txs[start:start + size], challenger)
    # A retry of an already answered batch gets the first answers and records nothing twice.
    assert predict_many(batch_db, risk, txs[:size], challenger) == together[:size]
    if scored_in_turn(size):  # /predict's own reads and writes, row by row: equal to the last bit
        assert together == one_by_one
        single_rows, batch_rows = _rows(single_db), _rows(batch_db)
        assert batch_rows[1:] == single_rows[1:]
        assert [_answer(r) for r in batch_rows[0]] == [_answer(r) for r in single_rows[0]]
        return

    assert {v.decision for v in one_by_one} == {"APPROVED", "BLOCKED"}
    # Decisions, risk and anomaly scores, reasons, versions, contributions: equal. A feature's value may
    # differ in the last bit: a batch adds its rows to the day totals' sums in another grouping.
    assert [_exact(v) for v in together] == [_exact(v) for v in one_by_one]
    assert [x for v in together for x in _values(v)] == pytest.approx([x for v in one_by_one for x in _values(v)],
                                                                      rel=1e-12)
    single_rows, batch_rows = _rows(single_db), _rows(batch_db)
    assert [_answer(r) for r in batch_rows[0]] == [_answer(r) for r in single_rows[0]]
    assert {r.challenger_decision for r in batch_rows[0]} == {"APPROVED", "BLOCKED"}
    # Day totals: equal counts; sums of the same amounts, added in another grouping.
    for single_days, batch_days in zip(single_rows[1:], batch_rows[1:], strict=True):
        assert [r[:3] for r in batch_days] == [r[:3] for r in single_days]
        assert [r.amount_sum for r in batch_days] == pytest.approx([r.amount_sum for r in single_days], rel=1e-12)


@pytest.mark.parametrize(("size", "at"), [(50, 20), (IN_TURN_MAX, 10)], ids=["bulk", "in_turn"])
def test_an_id_recorded_meanwhile_by_another_request_gets_its_first_answer(two_engines, model_dir, size, at):
    db, _ = two_engines
    risk = RiskEngine.load(model_dir)
    txs = _stream()[:size]
    taken = txs[at]
    first = predict(db, risk, taken)
    # The batch sends the same id with other content: the stored answer wins, and is counted once.
    answers = predict_many(db, risk, [*txs[:at], replace(taken, amount=taken.amount * 40), *txs[at + 1:]])
    assert answers[at] == first
    with db.connect() as conn:
        counted = conn.execute(select(customer_days.c.tx_count).where(
            customer_days.c.customer_id == taken.customer_id,
            customer_days.c.day == taken.timestamp.date())).scalar_one()
        stored = conn.execute(select(transactions.c.amount).where(
            transactions.c.transaction_id == taken.transaction_id)).scalar_one()
    assert stored == taken.amount
    assert counted == sum(1 for tx in txs if tx.customer_id == taken.customer_id
                          and tx.timestamp.date() == taken.timestamp.date())


def _independent(txs: list[Transaction], count: int) -> list[Transaction]:
    """The first ``count`` transactions of ``txs`` with no customer or terminal twice."""
    chosen: list[Transaction] = []
    for tx in txs:
        if all(tx.customer_id != c.customer_id and tx.terminal_id != c.terminal_id for c in chosen):
            chosen.append(tx)
    return chosen[:count]


@pytest.mark.parametrize(("pick", "runs"), [(lambda txs: txs[:5], 2), (lambda txs: _independent(txs, 5), 1)],
                         ids=["several_runs", "one_run"])
def test_a_short_batch_whose_id_is_recorded_between_its_read_and_its_write_is_scored_again_one_by_one(
        two_engines, model_dir, monkeypatch, pick, runs):
    db, _ = two_engines
    risk = RiskEngine.load(model_dir)
    txs = pick(_stream())
    # On PostgreSQL, one run is written without a transaction, several in one (SQLite: always row by row).
    assert len(batch_in_turn._independent_runs(txs)) == runs
    first: list[Verdict] = []
    scoring = batch_in_turn.shadow_answer

    def another_request_records_it(challenger, features):  # between the batch's read of txs[0] and its write
        if not first:
            first.append(predict(db, risk, txs[0]))
        return scoring(challenger, features)

    monkeypatch.setattr(batch_in_turn, "shadow_answer", another_request_records_it)
    decided = _decisions_counted()
    answers = predict_many(db, risk, txs)
    monkeypatch.undo()
    # Each transaction recorded is one decision on /metrics: the other request's and the batch's four, whether
    # the batch was rolled back and scored again one by one, or (one run, on PostgreSQL) kept its other rows.
    assert _decisions_counted() - decided == 5
    assert answers[0] == first[0]
    assert answers[1:] == [predict(db, risk, tx) for tx in txs[1:]]  # recorded by the batch: their stored answers
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(transactions)).scalar_one() == 5
        assert conn.execute(select(func.sum(customer_days.c.tx_count))).scalar_one() == 5


def _decisions_counted() -> float:
    """fraud_decisions_total as /metrics reports it, summed over the outcomes."""
    return sum(REGISTRY.get_sample_value("fraud_decisions_total", {"decision": decision}) or 0.0
               for decision in ("APPROVED", "BLOCKED"))


def test_an_in_turn_batch_locks_exactly_its_customers_existing_days_with_one_prepared_statement(profile_engine):
    if profile_engine.dialect.name != "postgresql":
        pytest.skip("the lock is PostgreSQL's (SQLite has one writer)")
    at = datetime(2026, 5, 1, 12)
    with profile_engine.begin() as conn:
        conn.execute(customer_days.insert(), [{"customer_id": f"c{i}", "day": at.date(), "tx_count": 1,
                                               "amount_sum": 1.0, "amount_sq_sum": 1.0, "fraud_count": 0}
                                              for i in range(4)])
    batches = [[Transaction(f"t{n}-{i}", customer, "t", 1.0, at) for i, customer in enumerate(customers)]
               for n, customers in enumerate((["c1", "new"], ["c2", "c0", "c2", "another"]))]
    raw = profile_engine.raw_connection()  # another session: which days it finds locked
    try:
        for batch in batches:
            with profile_engine.begin() as conn:
                batch_in_turn._lock_customer_days(conn, batch)
                with raw.cursor() as cursor:  # what another writer can take now: every day the batch did not lock
                    cursor.execute("SELECT customer_id FROM customer_days FOR UPDATE SKIP LOCKED")
                    free = {row[0] for row in cursor.fetchall()}
                raw.rollback()
                locked = sorted({f"c{i}" for i in range(4)} - free)
                assert locked == sorted({tx.customer_id for tx in batch} - {"new", "another"})
                prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                                                ("%FOR UPDATE%",)).scalar_one()
        assert prepared == 1  # batches of 2 and 4 rows: the same statement on this connection
    finally:
        raw.close()


def test_an_in_turn_batch_is_cut_where_a_row_could_see_an_earlier_rows_write():
    at = datetime(2026, 5, 1, 12)
    rows = [("a", "c1", "t1"), ("b", "c2", "t2"), ("c", "c3", "t1"),  # terminal t1 again
            ("d", "c4", "t3"), ("e", "c3", "t4"),  # customer c3 again
            ("f", "c5", "t5"), ("f", "c6", "t6"), ("g", "c7", "t7")]  # id f again
    txs = [Transaction(tx_id, customer, terminal, 1.0, at) for tx_id, customer, terminal in rows]
    runs = batch_in_turn._independent_runs(txs)
    assert [[tx.transaction_id for tx in run] for run in runs] == [["a", "b"], ["c", "d"], ["e", "f"], ["f", "g"]]


def test_an_in_turn_batch_reads_and_writes_each_run_of_independent_rows_in_one_statement(
        profile_engine, model_dir, monkeypatch):
    if profile_engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs in process: one row at a time, no round trip to save")
    risk = RiskEngine.load(model_dir)
    at = datetime(2026, 5, 1, 12)
    independent = [Transaction(f"r{i}", f"c{i}", f"t{i}", 10.0 + i, at.replace(minute=i)) for i in range(4)]
    again = [Transaction(f"s{i}", f"c{i}", f"t{i}", 10.0 + i, at.replace(minute=10 + i)) for i in range(3)]
    again.append(Transaction("s3", "c0", "t9", 5.0, at.replace(minute=15)))  # c0 again: a second run
    sent: list[list[str]] = []
    execute = Prepared.execute

    def counted(self, conn, params, **options):
        sent[-1].append(self.sql)
        return execute(self, conn, params, **options)

    monkeypatch.setattr(Prepared, "execute", counted)
    for batch in (independent, again):
        sent.append([])
        assert len(predict_many(profile_engine, risk, batch)) == 4
    monkeypatch.undo()
    # One run: its read and its write (no lock first: the write takes its customer days in key order).
    # Two runs: the lock, then the run of three's read and write, then the last row's read and write.
    # (That they answer and store what one /predict after another does: the first test of this module.)
    assert [len(statements) for statements in sent] == [2, 5]
    with profile_engine.connect() as conn:
        days = dict(conn.execute(select(customer_days.c.customer_id, customer_days.c.tx_count)).all())
        assert conn.execute(select(func.count()).select_from(transactions)).scalar_one() == 8
    assert days == {"c0": 3, "c1": 2, "c2": 2, "c3": 1}
