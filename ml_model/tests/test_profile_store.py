from datetime import datetime, timedelta

from ml_model.profile_store import DayTotals, InMemoryProfileStore, Transaction

T0 = datetime(2025, 3, 1, 12)


def _tx(i: int, minutes: float, customer: str = "c1", amount: float = 10.0) -> Transaction:
    return Transaction(f"tx-{i}", customer, "t1", amount, T0 + timedelta(minutes=minutes))


def test_customer_activity_counts_the_latest_within_the_window_up_to_until_even_when_recorded_out_of_order():
    store = InMemoryProfileStore()
    for i, minutes in enumerate([0, 10, 30, 20, 40, 5]):  # 20 and 5 arrive late
        store.record_transaction(_tx(i, minutes, amount=minutes))
    store.record_transaction(_tx(99, 15, customer="other", amount=1000))

    def activity(until, since, limit=10, latest_since=T0 - timedelta(days=30)):
        a = store.customer_activity("c1", T0 + timedelta(minutes=until), since=T0 + timedelta(minutes=since),
                                    limit=limit, latest_since=latest_since)
        return a.count, a.amount_sum, a.latest

    assert activity(60, 10) == (4, 100.0, T0 + timedelta(minutes=40))
    # Only the latest ``limit`` count; the newest is still the newest.
    assert activity(60, 0, limit=2) == (2, 70.0, T0 + timedelta(minutes=40))
    # A transaction recorded later but dated after ``until`` is not history yet; one dated at ``until`` is.
    assert activity(20, 0) == (4, 35.0, T0 + timedelta(minutes=20))
    # Nothing in the window, but an earlier transaction still gives the gap.
    assert activity(90, 50) == (0, 0.0, T0 + timedelta(minutes=40))
    # ... unless it is older than latest_since.
    assert activity(90, 50, latest_since=T0 + timedelta(minutes=45)) == (0, 0.0, None)
    assert store.customer_activity("nobody", T0, since=T0, limit=5, latest_since=T0).count == 0


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
