"""The profile store: what the online feature path reads and updates.

This module is the contract between ``ml_model.features`` (which computes features) and whoever keeps
the history: ``InMemoryProfileStore`` here (tests, parity checks, replays) and the fraud detection
service's database-backed store. Both must behave identically; ``ml_model.testing`` has a conformance
replay that any implementation can run.

Why daily totals instead of raw rows: a windowed aggregate over raw rows costs time proportional to the
customer's history. Per-day totals (count, sum, sum of squares, confirmed frauds) make every window a
read of at most ``window`` small rows, so scoring latency does not grow with history. Windows are
therefore defined on UTC calendar days: "the 7-day window at time t" is every *earlier* transaction
whose day is one of the 7 days ending with t's day. The batch path uses exactly that definition.

Timestamps are naive UTC ``datetime`` objects everywhere in this package.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class Transaction:
    """The raw fields of one payment, as the fraud service receives them."""

    transaction_id: str
    customer_id: str
    terminal_id: str
    amount: float
    timestamp: datetime  # naive UTC
    currency: str | None = None  # ISO 4217; only words the reasons, the model is currency-blind


@dataclass
class DayTotals:
    """Totals of one customer's (or one terminal's) transactions on one UTC day."""

    day: date
    tx_count: int = 0
    amount_sum: float = 0.0
    amount_sq_sum: float = 0.0
    fraud_count: int = 0  # transactions of that day confirmed as fraud so far
    labelled_count: int = 0  # transactions of that day with a label (fraud or not); terminals only


@dataclass(frozen=True)
class RecentTransaction:
    """One transaction in a customer's time-ordered history (the in-memory store's record)."""

    timestamp: datetime
    amount: float


@dataclass(frozen=True)
class RecentActivity:
    """A customer's activity up to a moment: what the short-horizon features (bursts, recency) need.

    Totals rather than rows: a card being tested sends hundreds of transactions an hour, and a read
    that returned them one by one would make each of its /predict calls cost O(burst) in Python."""

    count: int  # transactions with since <= timestamp <= until, at most ``limit`` (the latest ones)
    amount_sum: float  # the sum of those transactions' amounts
    latest: datetime | None  # the newest timestamp in [latest_since, until], None when there is none


class ProfileStore(Protocol):
    """History the online feature path needs, keyed by customer and terminal."""

    def customer_days(self, customer_id: str, first: date, last: date) -> list[DayTotals]:
        """The customer's daily totals for days in [first, last], days without activity omitted."""

    def terminal_days(self, terminal_id: str, first: date, last: date) -> list[DayTotals]:
        """The terminal's daily totals for days in [first, last], days without activity omitted."""

    def customer_activity(self, customer_id: str, until: datetime, *, since: datetime, limit: int,
                          latest_since: datetime) -> RecentActivity:
        """The customer's transactions up to ``until`` (inclusive): count and amount sum of the latest
        ``limit`` of them at or after ``since``, and the newest timestamp at or after ``latest_since``.
        Transactions after ``until`` (recorded before a late-arriving one) are never counted."""

    def record_transaction(self, tx: Transaction) -> bool:
        """Add ``tx`` to the history. Idempotent by transaction_id: returns False (and changes
        nothing) when that id is already recorded."""

    def record_label(self, transaction_id: str, is_fraud: bool) -> bool:
        """Record a confirmed label for a recorded transaction, replacing any earlier label (the
        terminal's fraud_count and labelled_count follow). Returns False when the transaction is unknown."""


@dataclass
class _Recorded:
    tx: Transaction
    is_fraud: bool | None = None


@dataclass
class InMemoryProfileStore:
    """Reference implementation kept in dictionaries (tests, replays, offline scoring)."""

    _transactions: dict[str, _Recorded] = field(default_factory=dict)
    _customer_days: dict[str, dict[date, DayTotals]] = field(default_factory=lambda: defaultdict(dict))
    _terminal_days: dict[str, dict[date, DayTotals]] = field(default_factory=lambda: defaultdict(dict))
    # Per customer, kept sorted by timestamp (ties in recording order): records arrive mostly in time
    # order, so an insert is usually an append and a read is a bisect plus the slice it returns.
    _customer_tx: dict[str, list[RecentTransaction]] = field(default_factory=lambda: defaultdict(list))

    def customer_days(self, customer_id: str, first: date, last: date) -> list[DayTotals]:
        return _days_between(self._customer_days.get(customer_id, {}), first, last)

    def terminal_days(self, terminal_id: str, first: date, last: date) -> list[DayTotals]:
        return _days_between(self._terminal_days.get(terminal_id, {}), first, last)

    def customer_activity(self, customer_id: str, until: datetime, *, since: datetime, limit: int,
                          latest_since: datetime) -> RecentActivity:
        history = self._customer_tx.get(customer_id, [])
        end = bisect.bisect_right(history, until, key=_timestamp)  # ties with ``until`` count as earlier
        start = max(bisect.bisect_left(history, since, key=_timestamp, hi=end), end - max(limit, 0))
        total = 0.0
        # Newest first, the order in which the fraud service's databases add them (their query takes the
        # latest ``limit`` rows newest first), so its /predict/batch, computed on this store, and its
        # /predict, read from the database, give the same float - hence the same reasons.
        for recent in reversed(history[start:end]):
            total += recent.amount
        latest = history[end - 1].timestamp if end and history[end - 1].timestamp >= latest_since else None
        return RecentActivity(count=end - start, amount_sum=total, latest=latest)

    def record_transaction(self, tx: Transaction) -> bool:
        if tx.transaction_id in self._transactions:
            return False
        self._transactions[tx.transaction_id] = _Recorded(tx)
        day = tx.timestamp.date()
        for totals_by_day in (self._customer_days[tx.customer_id], self._terminal_days[tx.terminal_id]):
            totals = totals_by_day.setdefault(day, DayTotals(day))
            totals.tx_count += 1
            totals.amount_sum += tx.amount
            totals.amount_sq_sum += tx.amount * tx.amount
        history = self._customer_tx[tx.customer_id]
        at = bisect.bisect_right(history, tx.timestamp, key=_timestamp)  # len(history) when in time order
        history.insert(at, RecentTransaction(tx.timestamp, tx.amount))
        return True

    def add_history(self, *, customer_days: Iterable[tuple[str, DayTotals]] = (),
                    terminal_days: Iterable[tuple[str, DayTotals]] = (),
                    customer_transactions: Iterable[tuple[str, RecentTransaction]] = ()) -> None:
        """Start from history read out of another store (the fraud service reads a /predict/batch's history
        from its database in a few statements, then computes the batch's features here). The transactions
        only feed ``customer_activity``; day totals are taken as given, never recounted from them."""
        for owner, totals in customer_days:
            self._customer_days[owner][totals.day] = totals
        for owner, totals in terminal_days:
            self._terminal_days[owner][totals.day] = totals
        for customer, recent in customer_transactions:
            history = self._customer_tx[customer]
            history.insert(bisect.bisect_right(history, recent.timestamp, key=_timestamp), recent)

    def record_label(self, transaction_id: str, is_fraud: bool) -> bool:
        recorded = self._transactions.get(transaction_id)
        if recorded is None:
            return False
        before = 1 if recorded.is_fraud else 0
        newly_labelled = recorded.is_fraud is None
        recorded.is_fraud = is_fraud
        tx = recorded.tx
        totals = self._terminal_days[tx.terminal_id][tx.timestamp.date()]
        totals.fraud_count += int(is_fraud) - before
        totals.labelled_count += int(newly_labelled)
        return True


@dataclass(frozen=True)
class StoredHistory:
    """What the features of a batch of transactions read from a store before any of them is recorded, as
    plain rows (the fraud service reads them for a /predict/batch in a few statements): the day totals and
    recent transactions of the batch's customers and terminals that the batch's windows cover.
    ``ml_model.features.online_features_batch`` computes the batch's features from it."""

    customer_days: Sequence[tuple[str, date, int, float]] = ()  # customer, day, tx_count, amount_sum
    # terminal, day, tx_count, fraud_count, labelled_count
    terminal_days: Sequence[tuple[str, date, int, int, int]] = ()
    # customer, timestamp, amount; stored-order ties keep this order (as add_history does)
    customer_transactions: Sequence[tuple[str, datetime, float]] = ()

    def to_store(self) -> InMemoryProfileStore:
        """The same history in an ``InMemoryProfileStore`` (the reference the batch features are tested against)."""
        store = InMemoryProfileStore()
        store.add_history(
            customer_days=((c, DayTotals(day, count, amount_sum)) for c, day, count, amount_sum in self.customer_days),
            terminal_days=((t, DayTotals(day, count, fraud_count=frauds, labelled_count=labelled))
                           for t, day, count, frauds, labelled in self.terminal_days),
            customer_transactions=((c, RecentTransaction(when, amount))
                                   for c, when, amount in self.customer_transactions),
        )
        return store


def _days_between(days: dict[date, DayTotals], first: date, last: date) -> list[DayTotals]:
    """Totals of the days in [first, last] in day order: one lookup per day of a window, a sort only
    when the range is longer than the history."""
    span = (last - first).days + 1
    if span <= 0:
        return []
    if span <= len(days):
        found = (days.get(first + timedelta(days=i)) for i in range(span))
        return [totals for totals in found if totals is not None]
    return [totals for day, totals in sorted(days.items()) if first <= day <= last]


def _timestamp(recent: RecentTransaction) -> datetime:
    return recent.timestamp
