import random
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml_model.features import (
    BURST_LIMIT,
    FEATURE_COLUMNS,
    FEATURE_DESCRIPTIONS,
    TYPICAL_AMOUNT,
    build_features,
    describe_feature,
    online_features,
    online_features_batch,
)
from ml_model.profile_store import InMemoryProfileStore, RecentActivity, StoredHistory, Transaction
from ml_model.simulate import simulate_transactions
from ml_model.testing import assert_online_matches_batch


def _raw(rows):
    return pd.DataFrame(
        rows, columns=["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    ).assign(tx_datetime=lambda f: pd.to_datetime(f["tx_datetime"]))


def test_online_path_matches_batch_on_twenty_thousand_replayed_transactions(small_raw):
    assert len(small_raw) >= 20_000
    assert_online_matches_batch(InMemoryProfileStore(), small_raw)


def test_parity_holds_with_unsorted_input_unlabelled_rows_and_no_label_delay():
    raw = simulate_transactions(days=12, customers=60, terminals=40, seed=9)
    raw["tx_fraud"] = raw["tx_fraud"].astype(float)
    raw.loc[raw.index % 5 == 0, "tx_fraud"] = np.nan
    shuffled = raw.sample(frac=1, random_state=4)
    assert_online_matches_batch(InMemoryProfileStore(), shuffled, label_delay_days=0)
    assert_online_matches_batch(InMemoryProfileStore(), shuffled, label_delay_days=3)


def test_parity_check_fails_when_a_store_forgets_history(small_raw):
    class ForgetfulStore(InMemoryProfileStore):
        def customer_activity(self, customer_id, until, *, since, limit, latest_since):
            return RecentActivity(count=0, amount_sum=0.0, latest=None)

    with pytest.raises(AssertionError, match="customer_tx_count_1h"):
        assert_online_matches_batch(ForgetfulStore(), small_raw.head(3000))


def test_customer_windows_use_earlier_transactions_only_with_ties_in_row_order():
    raw = _raw([
        ("a", "2025-01-01 10:00", "c1", "t1", 10.0, 0),
        ("b", "2025-01-05 10:00", "c1", "t1", 30.0, 0),
        ("c", "2025-01-05 10:00", "c1", "t2", 200.0, 0),  # same time as b, later row
        ("d", "2025-01-05 09:00", "c2", "t1", 5.0, 0),
    ])
    f = build_features(raw).set_index(raw["transaction_id"])
    assert f.loc["a", "customer_tx_count_30d"] == 0
    # No history: compared with a typical customer's amount, not a 0 average or a sentinel.
    assert f.loc["a", "customer_avg_amount_30d"] == TYPICAL_AMOUNT
    assert f.loc["a", "amount_to_customer_avg_30d"] == pytest.approx(10.0 / TYPICAL_AMOUNT)
    assert f.loc["a", "customer_prev_tx_recency"] == 0
    assert f.loc["b", "customer_tx_count_1d"] == 0 and f.loc["b", "customer_tx_count_7d"] == 1
    assert f.loc["c", "customer_tx_count_1d"] == 1  # b counts: same timestamp, earlier row
    assert f.loc["c", "customer_avg_amount_7d"] == pytest.approx(20.0)
    assert f.loc["c", "amount_to_customer_avg_7d"] == pytest.approx(10.0)
    assert f.loc["c", "customer_tx_count_1h"] == 1
    assert f.loc["c", "hours_since_customer_prev_tx"] == 0 and f.loc["c", "customer_prev_tx_recency"] == 1
    assert f.loc["b", "hours_since_customer_prev_tx"] == pytest.approx(96)
    assert f.loc["d", "hours_since_customer_prev_tx"] == 720  # no earlier transaction
    assert f.loc["a", "is_weekend"] == 0 and f.loc["b", "is_weekend"] == 1  # 2025-01-05 is a Sunday
    assert f.loc["a", "hour_of_day"] == 10


def test_terminal_fraud_rate_ignores_labels_younger_than_the_delay():
    rows = [(f"x{i}", f"2025-03-{1 + i:02d} 12:00", f"c{i}", "t1", 20.0, 1) for i in range(12)]
    f = build_features(_raw(rows), label_delay_days=7)["terminal_fraud_rate_30d"].to_numpy()
    # Day 8 (index 7) is the first whose window [.., d-7] holds a labelled fraud (day 1).
    assert (f[:7] == 0).all() and (f[7:] == 1).all()
    f0 = build_features(_raw(rows), label_delay_days=0)["terminal_fraud_rate_1d"].to_numpy()
    assert (f0 == 0).all()  # one transaction per day: nothing earlier on the same day


def test_padding_a_terminal_with_unlabelled_captures_does_not_dilute_its_fraud_rate():
    # Two confirmed frauds and two confirmed legitimate payments on 1 March; then 200 small captures
    # nobody labelled, the padding a fraudster controlling the terminal id would send.
    labelled = [(f"l{i}", f"2025-03-01 1{i}:00", f"c{i}", "t1", 50.0, i % 2) for i in range(4)]
    padding = [(f"p{i}", f"2025-03-01 20:{i % 60:02d}", f"p{i}", "t1", 1.0, None) for i in range(200)]
    probe = [("probe", "2025-03-09 12:00", "c9", "t1", 40.0, None)]
    raw = _raw(labelled + padding + probe)
    batch = build_features(raw, label_delay_days=7).loc[raw.index[-1]]
    assert batch["terminal_tx_count_7d"] == 204  # every transaction is still counted as activity
    assert batch["terminal_fraud_rate_7d"] == 0.5  # 2 frauds of 4 labelled, not 2 of 204

    store = InMemoryProfileStore()
    for tx_id, when, customer, terminal, amount, label in labelled + padding:
        store.record_transaction(Transaction(tx_id, customer, terminal, amount, datetime.fromisoformat(when)))
        if label is not None:
            store.record_label(tx_id, bool(label))
    online = online_features(Transaction("probe", "c9", "t1", 40.0, datetime(2025, 3, 9, 12)), store)
    assert online["terminal_fraud_rate_7d"] == 0.5 and online["terminal_tx_count_7d"] == 204
    assert "labelled" in FEATURE_DESCRIPTIONS["terminal_fraud_rate_7d"]


def test_online_features_do_not_record_the_transaction():
    store = InMemoryProfileStore()
    tx = Transaction("t-1", "c1", "t1", 12.5, datetime(2025, 1, 1, 8))
    first = online_features(tx, store)
    assert online_features(tx, store) == first
    assert store.customer_days("c1", tx.timestamp.date(), tx.timestamp.date()) == []
    store.record_transaction(tx)
    later = Transaction("t-2", "c1", "t1", 25.0, tx.timestamp + timedelta(minutes=5))
    assert online_features(later, store)["customer_tx_count_1h"] == 1
    assert online_features(later, store)["amount_to_customer_avg_30d"] == pytest.approx(2.0)


def test_every_feature_has_a_description_and_readable_reason():
    assert list(FEATURE_DESCRIPTIONS) == FEATURE_COLUMNS
    assert describe_feature("amount_to_customer_avg_30d", 6.31) == "amount is 6.3× this customer's 30-day average"
    # Each phrase carries its value and names its own feature: an analyst can tell any two reasons apart.
    for name in FEATURE_COLUMNS:
        assert describe_feature(name, 0.0) != describe_feature(name, 1.0), name
    phrases = [describe_feature(name, 1.0) for name in FEATURE_COLUMNS]
    assert len(set(phrases)) == len(FEATURE_COLUMNS), phrases


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [
        ("hour_of_day", 3.2, "made at 03:12 UTC"),
        ("customer_tx_count_1h", 5, "5 earlier transaction(s) by this customer in the previous hour"),
        ("hours_since_customer_prev_tx", 0.05, "3 minutes since this customer's previous transaction"),
        ("hours_since_customer_prev_tx", 720, "no transaction by this customer in the previous 30 days"),
        ("customer_prev_tx_recency", 0.0, "no transaction by this customer in the previous 30 days"),
        ("customer_prev_tx_recency", float(np.exp(-2 / 24)), "2.0 hours since this customer's previous transaction"),
        ("terminal_fraud_rate_7d", 0.25, "25% of this terminal's labelled transactions were fraud (7-day window)"),
    ],
)
def test_reasons_read_naturally(name, value, phrase):
    assert describe_feature(name, value) == phrase


def test_a_transaction_arriving_after_later_ones_is_measured_against_its_own_past():
    store = InMemoryProfileStore()
    noon = datetime(2025, 3, 4, 12)
    store.record_transaction(Transaction("before", "c1", "t1", 30.0, noon - timedelta(hours=5)))
    store.record_transaction(Transaction("later", "c1", "t1", 20.0, noon + timedelta(minutes=20)))
    features = online_features(Transaction("late", "c1", "t1", 25.0, noon), store)
    # The purchase 20 minutes *after* it is neither its previous transaction nor part of its last hour.
    assert features["hours_since_customer_prev_tx"] == pytest.approx(5)
    assert features["customer_tx_count_1h"] == 0


def test_a_burst_past_the_cap_counts_as_the_cap_and_averages_its_latest_transactions():
    # Card testing: 150 one-euro attempts in 15 minutes, then one 500-euro purchase; a 1-hour count
    # saturates at BURST_LIMIT in both paths, and its average is that of the latest BURST_LIMIT.
    start = pd.Timestamp("2025-02-01 03:00")
    rows = [(f"p{i}", str(start + pd.Timedelta(seconds=6 * i)), "c1", "t1", 1.0 + i / 100, 0) for i in range(150)]
    rows.append(("last", str(start + pd.Timedelta(minutes=15)), "c1", "t9", 500.0, 0))
    raw = _raw(rows)
    batch = build_features(raw).set_index(raw["transaction_id"]).loc["last"]
    store = InMemoryProfileStore()
    for row in raw.itertuples():
        if row.transaction_id != "last":
            store.record_transaction(Transaction(row.transaction_id, row.customer_id, row.terminal_id,
                                                 row.tx_amount, row.tx_datetime.to_pydatetime()))
    last = Transaction("last", "c1", "t9", 500.0, (start + pd.Timedelta(minutes=15)).to_pydatetime())
    online = online_features(last, store)
    latest = [1.0 + i / 100 for i in range(150 - BURST_LIMIT, 150)]
    for features in (batch, online):
        assert features["customer_tx_count_1h"] == BURST_LIMIT
        assert features["customer_avg_amount_1h"] == pytest.approx(sum(latest) / BURST_LIMIT)


def _one_after_another(txs: list[Transaction], history: StoredHistory, label_delay_days: int) -> np.ndarray:
    store, rows = history.to_store(), []
    for tx in txs:
        features = online_features(tx, store, label_delay_days=label_delay_days)
        rows.append([features[name] for name in FEATURE_COLUMNS])
        store.record_transaction(tx)
    return np.array(rows)


def _random_batch(seed: int) -> tuple[list[Transaction], StoredHistory]:
    """Stored day totals (labelled terminal days among them) and recent purchases, then a batch of 300
    mostly in time order: bursts, equal timestamps, a few captures arriving days late."""
    rnd = random.Random(seed)
    t0 = datetime(2026, 3, 1)
    customers = [f"c{i}" for i in range(rnd.randint(1, 40))]
    terminals = [f"t{i}" for i in range(rnd.randint(1, 30))]
    history = StoredHistory(
        customer_days=[(c, (t0 - timedelta(days=d)).date(), rnd.randint(1, 5), rnd.uniform(1, 500))
                       for c in customers for d in range(40) if rnd.random() < 0.3],
        terminal_days=[(t, (t0 - timedelta(days=d)).date(), rnd.randint(1, 9), rnd.randint(0, 2), rnd.randint(0, 3))
                       for t in terminals for d in range(50) if rnd.random() < 0.3],
        customer_transactions=sorted(
            [(rnd.choice(customers), t0 - timedelta(seconds=rnd.uniform(-86_400, 30 * 3600)),
              round(rnd.uniform(1, 300), 2)) for _ in range(rnd.randint(0, 200))]),
    )
    txs, now = [], t0
    for i in range(300):
        if rnd.random() > 0.1:
            now += timedelta(seconds=rnd.choice([0, 1, 30, 600, 3600, 2 * 86_400]) * rnd.random() ** 2)
        when = now - timedelta(seconds=rnd.uniform(0, 3 * 86_400)) if rnd.random() < 0.05 else now
        txs.append(Transaction(f"x{i}", rnd.choice(customers), rnd.choice(terminals), round(rnd.uniform(0.5, 900), 2),
                               when))
    return txs, history


@pytest.mark.parametrize("seed", range(16))
def test_a_batch_gets_exactly_the_features_of_one_transaction_after_another(seed):
    txs, history = _random_batch(seed)
    delay = seed % 8
    assert np.array_equal(online_features_batch(txs, history, label_delay_days=delay),
                          _one_after_another(txs, history, delay))


@pytest.mark.parametrize("late", [False, True])
def test_a_batch_burst_past_the_cap_counts_like_one_transaction_after_another(late):
    start = datetime(2025, 2, 1, 3)
    rnd = random.Random(3)
    txs = [Transaction(f"p{i}", "c1", f"t{i % 3}", round(rnd.uniform(1, 9), 2),
                       start + timedelta(seconds=5 * i - (rnd.uniform(0, 600) if late and i % 10 == 0 else 0)))
           for i in range(400)]
    history = StoredHistory(customer_transactions=[("c1", start - timedelta(seconds=s), 2.5) for s in range(1, 50)])
    batch = online_features_batch(txs, history)
    assert batch[:, FEATURE_COLUMNS.index("customer_tx_count_1h")].max() == BURST_LIMIT
    assert np.array_equal(batch, _one_after_another(txs, history, 7))
