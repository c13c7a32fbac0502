from datetime import datetime, timedelta

from ml_model.profile_store import DayTotals, InMemoryProfileStore, Transaction

T0 = datetime(2025, 3, 1, 12)


def _tx(i: int, minutes: float, customer: str = "c1", amount: float = 10.0) -> Transaction:
    return Transaction(f"tx-{i}", customer, "t1", amount, T0 + timedelta(minutes=minutes))


def test_customer_recent_is_newest_first_bounded_by_since_and_limit_even_when_recorded_out_of_order():
    store = InMemoryProfileStore()
    for i, minutes in enumerate([0, 10, 30, 20, 40, 5]):  # 20 and 5 arrive late
        store.record_transaction(_tx(i, minutes, amount=minutes))
    store.record_transaction(_tx(99, 15, customer="other"))
    recent = store.customer_recent("c1", T0 + timedelta(minutes=10), 10)
    assert [r.amount for r in recent] == [40, 30, 20, 10]
    assert [r.amount for r in store.customer_recent("c1", T0, 2)] == [40, 30]
    assert store.customer_recent("c1", T0 + timedelta(hours=1), 5) == []
    assert store.customer_recent("nobody", T0, 5) == []


def test_day_windows_return_only_the_requested_days_in_order():
    store = InMemoryProfileStore()
    for i, day in enumerate([5, 1, 3, 3, 9]):
        store.record_transaction(_tx(i, day * 24 * 60, amount=1.0))
    first = T0.date() + timedelta(days=1)
    days = store.customer_days("c1", first, first + timedelta(days=4))
    assert [(d.day - T0.date()).days for d in days] == [1, 3, 5]
    assert days[1] == DayTotals(T0.date() + timedelta(days=3), tx_count=2, amount_sum=2.0, amount_sq_sum=2.0)
    # A range far longer than the history gives the same answer.
    assert store.customer_days("c1", T0.date() - timedelta(days=400), T0.date() + timedelta(days=400))[0].day \
        == T0.date() + timedelta(days=1)
    assert store.terminal_days("t1", first, first - timedelta(days=1)) == []
