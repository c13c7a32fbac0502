"""The database profile store behaves exactly like ml_model's in-memory reference store."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql

from app.db.tables import customer_days, terminal_day_changes, terminal_days, transactions
from app.services.profile_store import SqlProfileStore, _statements
from app.services.terminal_totals import fold
from ml_model.features import history_reads
from ml_model.profile_store import InMemoryProfileStore, Transaction
from ml_model.simulate import simulate_transactions
from ml_model.testing import assert_online_matches_batch
from tests.databases import backend

START = datetime(2026, 3, 1)


def _random_history(n: int, seed: int = 5) -> list[Transaction]:
    rng = random.Random(seed)
    return [
        Transaction(
            transaction_id=f"tx-{i}",
            customer_id=f"c{rng.randrange(6)}",
            terminal_id=f"t{rng.randrange(4)}",
            amount=round(rng.lognormvariate(3.5, 1.0), 2),
            timestamp=START + timedelta(minutes=rng.randrange(60 * 24 * 40)),
        )
        for i in range(n)
    ]


def _views(store, day_first: date, day_last: date):
    """Everything the feature code can read from a store, for comparison."""
    return (
        [store.customer_days(f"c{i}", day_first, day_last) for i in range(6)],
        # A terminal's amounts are summed from appended changes in the database's grouping (and no feature
        # reads them): equal to far below a cent.
        [[replace(d, amount_sum=round(d.amount_sum, 6), amount_sq_sum=round(d.amount_sq_sum, 4))
          for d in store.terminal_days(f"t{i}", day_first, day_last)] for i in range(4)],
        [_activity(store, f"c{i}", until_days, window_hours, limit)
         for i in range(6)
         for until_days, window_hours, limit in ((20.5, 72, 25), (30, 240, 3), (41, 2, 1000), (0, 1, 5))],
    )


def _activity(store, customer: str, until_days: float, window_hours: float, limit: int):
    until = START + timedelta(days=until_days)
    a = store.customer_activity(customer, until, since=until - timedelta(hours=window_hours), limit=limit,
                                latest_since=until - timedelta(days=30))
    # The database may add in another order than the reference: equal to the last printed cent is the contract.
    return a.count, round(a.amount_sum, 6), a.latest


def _history(store: SqlProfileStore, reads):
    """/predict's read of an id never recorded: the history alone."""
    known, history = store.known_or_history("never-recorded", reads)
    assert known is None
    return history


def test_sql_store_reads_like_the_in_memory_store_after_transactions_and_labels(profile_engine):
    history = _random_history(400)
    reference = InMemoryProfileStore()
    with profile_engine.begin() as conn:
        store = SqlProfileStore(conn)
        for tx in history:
            assert store.record_transaction(tx) is reference.record_transaction(tx) is True
        rng = random.Random(1)
        for tx in rng.sample(history, 60):  # labels, some later reversed
            label = rng.random() < 0.7
            assert store.record_label(tx.transaction_id, label) is reference.record_label(tx.transaction_id, label)
        for tx in rng.sample(history, 20):
            store.record_label(tx.transaction_id, False)
            reference.record_label(tx.transaction_id, False)
    with profile_engine.connect() as conn:
        store = SqlProfileStore(conn)
        for first, last in [(date(2026, 3, 1), date(2026, 4, 15)), (date(2026, 3, 10), date(2026, 3, 16))]:
            assert _views(store, first, last) == _views(reference, first, last)
        frauds = store.terminal_days("t0", date(2026, 3, 1), date(2026, 4, 15))
    assert sum(d.fraud_count for d in frauds) > 0  # the comparison above covered labelled days


def test_folding_terminal_changes_keeps_every_read_and_empties_the_changes(profile_engine):
    history, reference = _random_history(400, seed=8), InMemoryProfileStore()
    rng = random.Random(2)
    for part in (history[:200], history[200:]):
        with profile_engine.begin() as conn:
            store = SqlProfileStore(conn)
            for tx in part:
                store.record_transaction(tx)
                reference.record_transaction(tx)
            for tx in rng.sample(history[:200], 30):  # labels of folded and unfolded days
                label = rng.random() < 0.6
                store.record_label(tx.transaction_id, label)
                reference.record_label(tx.transaction_id, label)
        span = (date(2026, 3, 1), date(2026, 4, 15))
        with profile_engine.connect() as conn:
            assert _views(SqlProfileStore(conn), *span) == _views(reference, *span)
        assert fold(profile_engine) > 0
        with profile_engine.connect() as conn:
            assert _views(SqlProfileStore(conn), *span) == _views(reference, *span)
            assert conn.execute(select(func.count()).select_from(terminal_day_changes)).scalar_one() == 0
    assert fold(profile_engine) == 0  # nothing left to fold


def test_recording_a_transaction_twice_counts_it_once(profile_engine):
    tx = _random_history(1)[0]
    with profile_engine.begin() as conn:
        store = SqlProfileStore(conn)
        assert store.record_transaction(tx) is True
        assert store.record_transaction(tx) is False
        changed = Transaction(tx.transaction_id, tx.customer_id, tx.terminal_id, tx.amount * 10, tx.timestamp)
        assert store.record_transaction(changed) is False
    with profile_engine.connect() as conn:
        (day,) = SqlProfileStore(conn).customer_days(tx.customer_id, tx.timestamp.date(), tx.timestamp.date())
        assert (day.tx_count, day.amount_sum) == (1, tx.amount)
        assert conn.execute(select(func.count()).select_from(transactions)).scalar_one() == 1


def test_label_for_an_unknown_transaction_changes_nothing(profile_engine):
    with profile_engine.begin() as conn:
        assert SqlProfileStore(conn).record_label("never-seen", True) is False
    with profile_engine.connect() as conn:
        for table in (transactions, customer_days, terminal_days, terminal_day_changes):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_repeated_fraud_label_is_counted_once_and_reversal_uncounts_it(profile_engine):
    tx = _random_history(1)[0]
    day = tx.timestamp.date()
    with profile_engine.begin() as conn:
        store = SqlProfileStore(conn)
        store.record_transaction(tx)
        store.record_label(tx.transaction_id, True)
        store.record_label(tx.transaction_id, True)
        assert store.terminal_days(tx.terminal_id, day, day)[0].fraud_count == 1
        store.record_label(tx.transaction_id, False)
        assert store.terminal_days(tx.terminal_id, day, day)[0].fraud_count == 0


def test_a_failed_write_leaves_no_half_recorded_transaction(profile_engine):
    tx = _random_history(1)[0]
    try:
        with profile_engine.begin() as conn:
            SqlProfileStore(conn).record_transaction(tx)
            raise RuntimeError("scoring failed after recording")
    except RuntimeError:
        pass
    with profile_engine.connect() as conn:
        for table in (transactions, customer_days, terminal_days, terminal_day_changes):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_online_features_from_the_database_equal_the_batch_features(profile_engine):
    raw = simulate_transactions(customers=20, terminals=30, days=35, seed=3)
    # Small simulations hold few frauds: label more so the terminal fraud rates are exercised too.
    raw.loc[raw.sample(frac=0.05, random_state=0).index, "tx_fraud"] = 1
    with profile_engine.begin() as conn:
        assert_online_matches_batch(SqlProfileStore(conn), raw)


def test_the_predict_paths_history_read_answers_what_the_three_reads_answer(profile_engine):
    """/predict reads the history with ``SqlProfileStore.read`` (one statement on PostgreSQL): every answer,
    with labels, with terminal changes not folded yet and folded, and for unknown owners, is the three reads'."""
    history = _random_history(400, seed=11)
    rng = random.Random(4)
    with profile_engine.begin() as conn:
        store = SqlProfileStore(conn)
        for tx in history:
            store.record_transaction(tx)
        for tx in rng.sample(history, 80):
            store.record_label(tx.transaction_id, rng.random() < 0.5)
    probes = [*rng.sample(history, 60), replace(history[0], customer_id="nobody", terminal_id="nowhere")]
    for folded in (False, True):
        if folded:
            assert fold(profile_engine) > 0
        with profile_engine.connect() as conn:
            store = SqlProfileStore(conn)
            for tx in probes:
                reads = history_reads(tx, label_delay_days=7)
                assert _history(store, reads) == reads.read(store)
            terminal = [_history(store, history_reads(tx, label_delay_days=7))[2] for tx in probes]
    assert any(day.fraud_count for days in terminal for day in days)  # labelled terminal days were compared


@pytest.mark.skipif(backend() != "postgresql", reason="plan caching of server-side prepared statements")
def test_postgresql_plans_the_history_read_once_per_connection_not_per_call(profile_engine):
    """Under plan_cache_mode=auto, a connection whose first reads were for new customers (cheap estimates)
    kept planning the history read anew at every /predict (~0.25 ms each): every read is the generic plan."""
    with profile_engine.begin() as conn:
        store = SqlProfileStore(conn)
        for tx in _random_history(300, seed=2):
            store.record_transaction(replace(tx, customer_id=f"{tx.customer_id}-{tx.transaction_id}"))
        conn.exec_driver_sql("ANALYZE")
    with profile_engine.connect() as conn:
        store = SqlProfileStore(conn)
        for i in range(12):
            _history(store, history_reads(Transaction(f"new-{i}", f"new-customer-{i}", "new-terminal", 10.0,
                                                      START), label_delay_days=7))
        plans = conn.execute(text("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                                  "WHERE statement LIKE '%FROM terminal_days%'")).all()
    assert [tuple(row) for row in plans] == [(12, 0)]


def test_the_history_read_sends_only_the_reads_own_values():
    """Constants (part numbers, zeros, the latest timestamp's LIMIT 1) are written into the PostgreSQL statement:
    each bound one was formatted by the driver and parsed and cast by the server at every /predict."""
    names = _statements(postgresql.psycopg2.dialect()).history.server.parameters.names
    assert sorted(names) == sorted(("customer_id", "customer_first", "day", "until", "since", "limit",
                                    "latest_since", "terminal_id", "terminal_first", "terminal_last", "tx_id"))


@pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL's vacuum and plans")
def test_the_history_read_reaches_pending_terminal_changes_by_index_after_a_fold_and_vacuum(profile_engine):
    """A fold empties terminal_day_changes; a vacuum then gave its pages back, and a connection planning the read
    then scanned the whole table at every /predict while captures refilled it (until the next vacuum)."""
    with profile_engine.begin() as conn:
        conn.execute(terminal_day_changes.insert(), [
            {"terminal_id": f"t{i % 50}", "day": date(2026, 3, 1), "tx_count": 1, "amount_sum": 1.0,
             "amount_sq_sum": 1.0, "fraud_count": 0} for i in range(3000)])
    fold(profile_engine)
    with profile_engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM terminal_day_changes")
    with profile_engine.connect() as conn:
        reads = history_reads(Transaction("x", "c0", "t0", 10.0, START + timedelta(days=10)), label_delay_days=7)
        _history(SqlProfileStore(conn), reads)
        history = _statements(conn.dialect).history.server
        params = {"tx_id": "x", **{name: getattr(reads, name) for name in history.parameters.names if name != "tx_id"}}
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute("EXPLAIN " + history.execute, history.parameters.values(params))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on terminal_day_changes" not in plan, plan


def test_the_history_read_says_whether_the_id_is_recorded_and_gives_its_answer(profile_engine):
    """/predict's read (``known_or_history``: on PostgreSQL one statement with the history): a recorded id
    gives its stored answer and no history, an unknown one the history the three reads give."""
    history = _random_history(50, seed=12)
    with profile_engine.begin() as conn:
        store = SqlProfileStore(conn)
        for tx in history[:40]:
            store.record_scored(tx, {"decision": "APPROVED", "risk_score": 0.1, "model_version": "m1"})
    with profile_engine.connect() as conn:
        store = SqlProfileStore(conn)
        for tx in history:
            reads = history_reads(tx, label_delay_days=7)
            known, read = store.known_or_history(tx.transaction_id, reads)
            if tx in history[:40]:
                assert (known.decision, known.risk_score, known.model_version, read) == ("APPROVED", 0.1, "m1", None)
            else:
                assert (known, read) == (None, reads.read(store))
