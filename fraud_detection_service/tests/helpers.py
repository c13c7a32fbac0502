from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from ml_model.profile_store import InMemoryProfileStore, Transaction

# Recent enough to pass the timestamp bounds, fixed so windows are predictable.
DAY0 = datetime(2026, 6, 1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def transaction(customer: str, terminal: str, amount: float, when: datetime, **extra: Any) -> dict[str, Any]:
    return {"transaction_id": str(uuid.uuid4()), "customer_id": customer, "terminal_id": terminal,
            "amount": amount, "timestamp": when.isoformat(), **extra}


def daily_habit(customer: str, terminal: str, *, days: int, amount: float, start: datetime = DAY0) -> list[dict]:
    """A customer paying about ``amount`` three times a day in the daytime, for ``days`` days."""
    return [
        transaction(customer, terminal, round(amount * (0.9 + 0.05 * k), 2), start + timedelta(days=d, hours=h))
        for d in range(days)
        for k, h in enumerate((10, 13, 17))
    ]


# Payments where exactly one thing is extreme, for a customer with fourteen days of three ~40 EUR daytime
# purchases at one terminal (tests/test_explanations.py, tests/test_hybrid_explanations.py).
PROBE_DAY = DAY0 + timedelta(days=14)


def with_habit(customer: str, terminal: str = "T-home") -> InMemoryProfileStore:
    store = InMemoryProfileStore()
    for d in range(14):
        for k, hour in enumerate((10, 13, 17)):
            store.record_transaction(Transaction(f"{customer}-{d}-{k}", customer, terminal, 36.0 + 2 * k,
                                                 DAY0 + timedelta(days=d, hours=hour)))
    return store


def extreme_amount() -> tuple[InMemoryProfileStore, Transaction]:
    return with_habit("amount"), Transaction("a", "amount", "T-home", 2400.0, PROBE_DAY + timedelta(hours=13), "EUR")


def extreme_burst() -> tuple[InMemoryProfileStore, Transaction]:
    """The tenth ordinary purchase at the usual terminal within half an hour (the nine before recorded)."""
    store, start = with_habit("burst"), PROBE_DAY + timedelta(hours=13)
    for i in range(9):
        store.record_transaction(Transaction(f"b{i}", "burst", "T-home", 38.0, start + timedelta(minutes=3 * i)))
    return store, Transaction("b9", "burst", "T-home", 38.0, start + timedelta(minutes=27))


def extreme_night() -> tuple[InMemoryProfileStore, Transaction]:
    return with_habit("night"), Transaction("n", "night", "T-home", 38.0, PROBE_DAY + timedelta(hours=3, minutes=30))


def extreme_terminal_fraud_rate() -> tuple[InMemoryProfileStore, Transaction]:
    """An ordinary purchase at T-bad, where eight payments by others were labelled, four as fraud."""
    store, fraud_day = with_habit("shopper"), DAY0 + timedelta(days=3)
    for i in range(8):
        tx = Transaction(f"bad{i}", f"other{i}", "T-bad", 35.0, fraud_day + timedelta(hours=9 + i))
        store.record_transaction(tx)
        store.record_label(tx.transaction_id, i < 4)
    return store, Transaction("t", "shopper", "T-bad", 38.0, PROBE_DAY + timedelta(hours=13))
