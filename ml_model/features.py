"""Model features, defined once and computed two ways.

* ``build_features(raw)``: batch, over a raw DataFrame (training, evaluation).
* ``online_features(tx, store)``: one transaction against a ``ProfileStore`` (the fraud service).
* ``online_features_batch(txs, history)``: many transactions against the history read for them, each
  seeing the earlier ones as if recorded one by one (the fraud service's /predict/batch); the same floats
  as ``online_features`` row after row, as arrays.

Both compute every feature from history strictly before the transaction: rows earlier in time, ties at
the same timestamp ordered by input row order. Day windows follow ``ml_model.profile_store``: "the
N-day window" of a transaction on day d is the earlier transactions on days d-N+1 .. d. Terminal
fraud rates only use labels old enough to be known: a transaction of day k is assumed labelled from
day k + label_delay_days, so the N-day terminal window is days d-delay-N+1 .. d-delay. A terminal's
fraud rate is frauds ÷ *labelled* transactions of that window: unlabelled ones are not evidence either
way, and counting them would let anyone dilute a terminal's rate by padding it with small captures.
``ml_model.testing.assert_online_matches_batch`` proves the two paths agree.

Online, "earlier" means "already recorded in the store". The paths agree when transactions are
recorded in time order (as in the replay); a transaction arriving after later ones of the same day
sees those in its day totals, since daily totals cannot be split by time. Its 1-hour features and
time since the previous purchase are exact either way (the store reads them up to its timestamp).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter

import numpy as np
import pandas as pd

from ml_model.profile_store import DayTotals, ProfileStore, RecentActivity, StoredHistory, Transaction

DEFAULT_LABEL_DELAY_DAYS = 7
WINDOWS_DAYS = (1, 7, 30)
BURST_WINDOW = timedelta(hours=1)
# Cap on the 1-hour count, so a hammered card's prediction reads a bounded number of rows (docs/performance.md).
# 100 an hour is already far past anything legitimate (the default simulation's maximum is 16), and the
# forest cannot tell values above its training maximum apart anyway.
BURST_LIMIT = 100
MAX_GAP_HOURS = 30 * 24.0  # "no earlier transaction within 30 days" reads as this gap
NIGHT_END_HOUR = 6
# Cold start must look ordinary: new customers arrive every day. Without history in a window, a
# customer's average amount reads as a typical customer's (the simulator's customer means are
# U(5, 100)), so a first purchase is judged by its amount against that, not by a 0 average or a
# "no history" sentinel at the far end of a feature's range.
TYPICAL_AMOUNT = 50.0
# Recency = exp(-hours since the previous transaction / RECENCY_HOURS): near 1 within a burst, near 0
# after a day or more, exactly 0 with no transaction in 30 days, so "no history" sits with the many
# ordinary long gaps instead of 720 h beyond every other gap.
RECENCY_HOURS = 24.0


def _per_window(*templates: tuple[str, str]) -> dict[str, str]:
    """Feature names and descriptions for every day window, from templates with ``{w}``."""
    return {name.format(w=w): text.format(w=w) for w in WINDOWS_DAYS for name, text in templates}


FEATURE_DESCRIPTIONS: dict[str, str] = {
    "tx_amount": "transaction amount",
    "hour_of_day": "time of day in hours (UTC)",
    "is_night": "made between midnight and 06:00 UTC",
    "is_weekend": "made on a Saturday or Sunday",
    **_per_window(
        ("customer_tx_count_{w}d", "number of this customer's transactions over the last {w} day(s)"),
        ("customer_avg_amount_{w}d",
         "this customer's average amount over the last {w} day(s) (typical amount without history)"),
    ),
    "amount_to_customer_avg_7d": "amount relative to this customer's 7-day average (typical amount without history)",
    "amount_to_customer_avg_30d": "amount relative to this customer's 30-day average (typical amount without history)",
    "customer_tx_count_1h": "number of this customer's transactions in the previous hour",
    "customer_avg_amount_1h":
        "average amount of this customer's transactions in the previous hour (typical amount if none)",
    "hours_since_customer_prev_tx": "hours since this customer's previous transaction (720 if none in 30 days)",
    "customer_prev_tx_recency": "exp(-hours since this customer's previous transaction / 24); 0 if none in 30 days",
    **_per_window(
        ("terminal_tx_count_{w}d", "this terminal's transactions over {w} day(s) with known labels"),
        ("terminal_fraud_rate_{w}d", "share of fraud among this terminal's labelled transactions over {w} day(s) "
                                     "with known labels (unlabelled ones not counted)"),
    ),
}
FEATURE_COLUMNS: list[str] = list(FEATURE_DESCRIPTIONS)


def describe_feature(name: str, value: float) -> str:
    """An analyst-readable phrase for one feature value, e.g. 'amount is 6.3× this customer's 30-day
    average'. The fraud service builds its reasons from these."""
    window = name.rsplit("_", 1)[-1]
    span = {"1h": "previous hour's", "1d": "1-day", "7d": "7-day", "30d": "30-day"}.get(window, window)
    if name == "tx_amount":
        return f"amount {value:,.2f}"
    if name == "hour_of_day":
        minutes = int(value * 60)
        return f"made at {minutes // 60:02d}:{minutes % 60:02d} UTC"
    if name == "is_night":
        return "made at night (00:00-06:00 UTC)" if value else "made during the day"
    if name == "is_weekend":
        return "made on a weekend" if value else "made on a weekday"
    if name.startswith("amount_to_customer_avg_"):
        return f"amount is {value:.1f}× this customer's {span} average"
    if name.startswith("customer_avg_amount_"):
        return f"this customer's {span} average amount is {value:,.2f}"  # TYPICAL_AMOUNT without history
    if name.startswith("customer_tx_count_"):
        period = {"1h": "previous hour", "1d": "same day (UTC)", "7d": "last 7 days", "30d": "last 30 days"}[window]
        return f"{value:.0f} earlier transaction(s) by this customer in the {period}"
    if name == "customer_prev_tx_recency":
        return describe_feature("hours_since_customer_prev_tx", _recency_to_hours(value))
    if name == "hours_since_customer_prev_tx":
        if value >= MAX_GAP_HOURS:
            return "no transaction by this customer in the previous 30 days"
        return f"{value * 60:.0f} minutes since this customer's previous transaction" if value < 1 \
            else f"{value:.1f} hours since this customer's previous transaction"
    if name.startswith("terminal_fraud_rate_"):
        return f"{value:.0%} of this terminal's labelled transactions were fraud ({span} window)"
    if name.startswith("terminal_tx_count_"):
        return f"{value:.0f} transaction(s) at this terminal in the {span} window with known labels"
    return f"{FEATURE_DESCRIPTIONS[name]}: {value:.4g}"


# ---------------------------------------------------------------------------------------------------
# Online path
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryReads:
    """What ``online_features`` reads from a ``ProfileStore`` for one transaction: the arguments of its three
    reads. A store that can answer them together (the fraud service's, one statement on PostgreSQL) passes
    its answers to ``features_from_history``; ``read`` asks any store one read at a time."""

    customer_id: str
    customer_first: date  # the customer's day totals, days [customer_first, day]
    day: date
    until: datetime  # the customer's activity up to the transaction's timestamp
    since: datetime
    limit: int
    latest_since: datetime
    terminal_id: str
    terminal_first: date  # the terminal's day totals with known labels, days [terminal_first, terminal_last]
    terminal_last: date

    def read(self, store: ProfileStore) -> tuple[list[DayTotals], RecentActivity, list[DayTotals]]:
        """(customer day totals, customer activity, terminal day totals), one read each."""
        return (store.customer_days(self.customer_id, self.customer_first, self.day),
                store.customer_activity(self.customer_id, self.until, since=self.since, limit=self.limit,
                                        latest_since=self.latest_since),
                store.terminal_days(self.terminal_id, self.terminal_first, self.terminal_last))


def history_reads(tx: Transaction, *, label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS) -> HistoryReads:
    _check_delay(label_delay_days)
    t = tx.timestamp
    day = t.date()
    longest = max(WINDOWS_DAYS)
    newest_known = day - timedelta(days=label_delay_days)
    return HistoryReads(
        customer_id=tx.customer_id, customer_first=day - timedelta(days=longest - 1), day=day, until=t,
        since=t - BURST_WINDOW, limit=BURST_LIMIT, latest_since=t - timedelta(hours=MAX_GAP_HOURS),
        terminal_id=tx.terminal_id, terminal_first=newest_known - timedelta(days=longest - 1),
        terminal_last=newest_known)


def online_features(
    tx: Transaction, store: ProfileStore, *, label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS
) -> dict[str, float]:
    """Features of ``tx`` from the history in ``store``. Does not record ``tx``."""
    reads = history_reads(tx, label_delay_days=label_delay_days)
    return features_from_history(tx, reads, *reads.read(store))


def features_from_history(tx: Transaction, reads: HistoryReads, customer_days: list[DayTotals],
                          activity: RecentActivity, terminal_days: list[DayTotals]) -> dict[str, float]:
    """``online_features`` of ``tx`` from the answers to ``reads`` (``HistoryReads.read``'s)."""
    t = tx.timestamp
    features = {"tx_amount": float(tx.amount), **_time_features(t)}
    for (count_name, average_name), (count, amount_sum, _, _) in zip(
            _CUSTOMER_WINDOW_NAMES, _window_sums(customer_days, reads.day), strict=True):
        features[count_name] = float(count)
        features[average_name] = amount_sum / count if count else TYPICAL_AMOUNT
    for average_name, ratio_name in _AMOUNT_RATIO_NAMES:
        avg = features[average_name]
        features[ratio_name] = tx.amount / avg if avg > 0 else 1.0

    features["customer_tx_count_1h"] = float(activity.count)
    features["customer_avg_amount_1h"] = activity.amount_sum / activity.count if activity.count else TYPICAL_AMOUNT
    gap = (t - activity.latest).total_seconds() / 3600 if activity.latest is not None else MAX_GAP_HOURS
    features["hours_since_customer_prev_tx"] = min(gap, MAX_GAP_HOURS)
    hours = features["hours_since_customer_prev_tx"]
    # Scalar twin of _recency (numpy per-call overhead is most of the cost for one value).
    features["customer_prev_tx_recency"] = 0.0 if hours >= MAX_GAP_HOURS else math.exp(-hours / RECENCY_HOURS)

    for (count_name, rate_name), (count, _, frauds, labelled) in zip(
            _TERMINAL_WINDOW_NAMES, _window_sums(terminal_days, reads.terminal_last), strict=True):
        features[count_name] = float(count)
        features[rate_name] = frauds / labelled if labelled else 0.0
    return {name: features[name] for name in FEATURE_COLUMNS}


# Per-window names and spans, built once: formatting them on every /predict was half of this path's time.
_CUSTOMER_WINDOW_NAMES = tuple((f"customer_tx_count_{w}d", f"customer_avg_amount_{w}d") for w in WINDOWS_DAYS)
_TERMINAL_WINDOW_NAMES = tuple((f"terminal_tx_count_{w}d", f"terminal_fraud_rate_{w}d") for w in WINDOWS_DAYS)
_AMOUNT_RATIO_NAMES = tuple((f"customer_avg_amount_{w}d", f"amount_to_customer_avg_{w}d") for w in (7, 30))
_WINDOW_SPANS = tuple(timedelta(days=w - 1) for w in WINDOWS_DAYS)  # first day = last day - span
_NO_DAYS = ((0, 0.0, 0, 0),) * len(WINDOWS_DAYS)
_DAY = attrgetter("day")


def _recency(hours: np.ndarray) -> np.ndarray:
    """exp(-hours / RECENCY_HOURS), 0 where the gap is the "none in 30 days" cap."""
    return np.where(hours >= MAX_GAP_HOURS, 0.0, np.exp(-hours / RECENCY_HOURS))


def _recency_to_hours(recency: float) -> float:
    return MAX_GAP_HOURS if recency <= 0 else min(-RECENCY_HOURS * float(np.log(recency)), MAX_GAP_HOURS)


def _window_sums(days: list[DayTotals], last: date) -> tuple[tuple[int, float, int, int], ...]:
    """(count, amount sum, fraud count, labelled count) of every window in WINDOWS_DAYS ending on
    ``last``, in that order, in one pass.

    Amounts are added in day order, as the batch path's cumulative sums add them, so both paths give
    the same floats."""
    if not days:
        return _NO_DAYS
    ordered = sorted(days, key=_DAY)
    keys = [d.day for d in ordered]
    end = bisect_right(keys, last)
    sums = []
    for span in _WINDOW_SPANS:  # each window's days are a slice of the ordered ones
        count = frauds = labelled = 0
        amount_sum = 0.0
        for d in ordered[bisect_left(keys, last - span, 0, end):end]:
            count += d.tx_count
            amount_sum += d.amount_sum
            frauds += d.fraud_count
            labelled += d.labelled_count
        sums.append((count, amount_sum, frauds, labelled))
    return tuple(sums)


def _time_features(t: datetime) -> dict[str, float]:
    hour = (t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6) / 3600
    return {
        "hour_of_day": hour,
        "is_night": float(hour < NIGHT_END_HOUR),
        "is_weekend": float(t.weekday() >= 5),
    }


# ---------------------------------------------------------------------------------------------------
# Online path, many transactions at once
# ---------------------------------------------------------------------------------------------------

_MICROS_PER_DAY = 86_400_000_000
_COLUMN = {name: j for j, name in enumerate(FEATURE_COLUMNS)}


def online_features_batch(
    txs: Sequence[Transaction], history: StoredHistory, *, label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS
) -> np.ndarray:
    """Row i (columns ``FEATURE_COLUMNS``) is ``online_features(txs[i], store)`` for a store holding
    ``history`` and ``txs[:i]`` recorded one after another (ids distinct): same arithmetic in the same
    order, hence the same floats, computed over arrays.

    Day windows: each row's 30 (customer) and 30 (terminal, ``label_delay_days`` back) days as the row
    sees them - the stored total plus the earlier rows of that owner and day, added one by one as
    recording them would - then summed oldest day first, as ``_window_sums`` does. The 1-hour window and
    the previous purchase: positions in the customer's transactions merged in the store's order
    (timestamp, stored first, then batch order). Where a customer's rows arrive out of time order
    (a late capture inside the batch), a later row is not simply "everything before this one" for
    them, so those rows take a loop over their customer's few transactions instead."""
    _check_delay(label_delay_days)
    n = len(txs)
    out = np.empty((n, len(FEATURE_COLUMNS)))
    if n == 0:
        return out
    amount = np.fromiter((tx.amount for tx in txs), np.float64, n)
    micros = _micros([tx.timestamp for tx in txs])
    day = micros // _MICROS_PER_DAY

    def put(name: str, values: np.ndarray) -> None:
        out[:, _COLUMN[name]] = values

    put("tx_amount", amount)
    whole, micro = np.divmod(micros - day * _MICROS_PER_DAY, 1_000_000)
    hour = (whole + micro / 1e6) / 3600  # _time_features' operations, in its order
    put("hour_of_day", hour)
    put("is_night", hour < NIGHT_END_HOUR)
    put("is_weekend", (day + 3) % 7 >= 5)  # 1970-01-01 was a Thursday (weekday 3)

    customers = _codes([tx.customer_id for tx in txs], [row[0] for row in history.customer_days],
                       [row[0] for row in history.customer_transactions])
    customer = customers[0]
    longest = max(WINDOWS_DAYS)
    days = history.customer_days
    count_by_day, sum_by_day = _as_of_days(
        customer, day, longest - 1, longest, [np.ones(n), amount], customers[1],
        _days([row[1] for row in days]), [np.array([row[2] for row in days], dtype=np.float64),
                                        np.array([row[3] for row in days], dtype=np.float64)])
    for w in WINDOWS_DAYS:
        count, amount_sum = _oldest_first(count_by_day, longest - w), _oldest_first(sum_by_day, longest - w)
        put(f"customer_tx_count_{w}d", count)
        average = np.divide(amount_sum, count, out=np.full(n, TYPICAL_AMOUNT), where=count > 0)
        put(f"customer_avg_amount_{w}d", average)
        if w in (7, 30):
            put(f"amount_to_customer_avg_{w}d", np.divide(amount, average, out=np.ones(n), where=average > 0))

    recent = history.customer_transactions
    count_1h, sum_1h, hours = _recent_activity(
        customer, micros, amount, customers[2], _micros([row[1] for row in recent]),
        np.array([row[2] for row in recent], dtype=np.float64))
    put("customer_tx_count_1h", count_1h)
    put("customer_avg_amount_1h", np.divide(sum_1h, count_1h, out=np.full(n, TYPICAL_AMOUNT), where=count_1h > 0))
    put("hours_since_customer_prev_tx", hours)
    # math.exp as online_features (numpy's exp may differ in the last place).
    put("customer_prev_tx_recency",
        [0.0 if h >= MAX_GAP_HOURS else math.exp(-h / RECENCY_HOURS) for h in hours.tolist()])

    terminals = _codes([tx.terminal_id for tx in txs], [row[0] for row in history.terminal_days])
    days = history.terminal_days
    stored = [np.array([row[k] for row in days], dtype=np.float64) for k in (2, 3, 4)]
    count_by_day, frauds_by_day, labelled_by_day = _as_of_days(
        terminals[0], day, label_delay_days + longest - 1, longest, [np.ones(n), np.zeros(n), np.zeros(n)],
        terminals[1], _days([row[1] for row in days]), stored)
    for w in WINDOWS_DAYS:
        labelled = labelled_by_day[:, longest - w:].sum(axis=1)  # counts: exact in any order
        put(f"terminal_tx_count_{w}d", count_by_day[:, longest - w:].sum(axis=1))
        put(f"terminal_fraud_rate_{w}d", np.divide(frauds_by_day[:, longest - w:].sum(axis=1), labelled,
                                                   out=np.zeros(n), where=labelled > 0))
    return out


_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH_ORDINAL = _EPOCH.toordinal()


def _micros(timestamps: Sequence[datetime]) -> np.ndarray:
    """Naive UTC datetimes as int64 microseconds since the epoch (exact: datetime's own resolution;
    numpy's own conversion of datetime objects is several times slower)."""
    return np.array([(t - _EPOCH) // _MICROSECOND for t in timestamps], dtype=np.int64).reshape(-1)


def _days(days: Sequence[date]) -> np.ndarray:
    """Dates as int64 days since the epoch."""
    return np.array([d.toordinal() - _EPOCH_ORDINAL for d in days], dtype=np.int64).reshape(-1)


def _codes(*groups: list[str]) -> list[np.ndarray]:
    """One integer code per distinct id across ``groups``, returned group by group."""
    codes = pd.factorize(np.array([x for group in groups for x in group], dtype=object))[0]
    bounds = np.cumsum([0, *(len(group) for group in groups)])
    return [codes[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]


def _as_of_days(owner: np.ndarray, day: np.ndarray, back: int, width: int, increments: list[np.ndarray],
                stored_owner: np.ndarray, stored_day: np.ndarray, stored: list[np.ndarray]) -> list[np.ndarray]:
    """Per value, an (n, width) matrix: column k of row i is the total of row i's owner on day
    ``day[i] - back + k`` as row i sees it - the stored total plus the increments of the rows before i of
    that owner and day, added one at a time in row order (the float a store recording them gets)."""
    n = len(owner)
    origin = int(day.min()) - back
    stride = int(day.max()) - origin + 1
    cell = owner.astype(np.int64) * stride + (day - origin)
    kept = (stored_day >= origin) & (stored_day < origin + stride)  # a stored day no row's window covers: unread
    stored_cell = stored_owner[kept].astype(np.int64) * stride + (stored_day[kept] - origin)
    stored = [values[kept] for values in stored]
    # Running totals after each row, in row order (a Python loop: its float additions are the store's).
    start = dict(zip(stored_cell.tolist(), zip(*(values.tolist() for values in stored), strict=True), strict=True))
    zero = (0.0,) * len(increments)
    totals: dict[int, tuple[float, ...]] = {}
    running = []
    for key, *added in zip(cell.tolist(), *(values.tolist() for values in increments), strict=True):
        before = totals.get(key) or start.get(key, zero)
        totals[key] = now = tuple(b + a for b, a in zip(before, added, strict=True))
        running.append(now)
    after_row = np.array(running, dtype=np.float64).reshape(n, len(increments))
    # Each (row, day) cell: the last earlier row of the batch in it, else the stored total, else nothing.
    query = owner.astype(np.int64)[:, None] * stride + (day[:, None] - back - origin + np.arange(width)[None, :])
    rows = np.arange(n, dtype=np.int64)
    batch_keys = cell * n + rows
    order = np.argsort(batch_keys, kind="stable")
    sorted_keys = batch_keys[order]
    at = np.searchsorted(sorted_keys, query * n + rows[:, None], side="left") - 1
    safe = np.maximum(at, 0)
    earlier = (at >= 0) & (sorted_keys[safe] // n == query)
    by_cell = np.argsort(stored_cell, kind="stable")
    stored_sorted = stored_cell[by_cell]
    found = np.minimum(np.searchsorted(stored_sorted, query), max(len(stored_sorted) - 1, 0))
    known = (stored_sorted[found] == query) if len(stored_sorted) else np.zeros(query.shape, dtype=bool)
    result = []
    for k, values in enumerate(stored):
        from_store = np.where(known, values[by_cell][found], 0.0) if len(stored_sorted) else np.zeros(query.shape)
        result.append(np.where(earlier, after_row[order[safe], k], from_store))
    return result


def _oldest_first(by_day: np.ndarray, first: int) -> np.ndarray:
    """Sum of columns ``first``.. of ``by_day``, one column after another (``_window_sums``' float order;
    a day without activity adds 0.0, which changes nothing)."""
    total = np.zeros(by_day.shape[0])
    for k in range(first, by_day.shape[1]):
        total = total + by_day[:, k]
    return total


def _recent_activity(customer: np.ndarray, micros: np.ndarray, amount: np.ndarray, stored_customer: np.ndarray,
                     stored_micros: np.ndarray, stored_amount: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the customer's 1-hour count (at most BURST_LIMIT, the latest) and amount sum (newest first, as
    the store adds them), and hours since the previous transaction (MAX_GAP_HOURS when none within it)."""
    n, m = len(customer), len(stored_customer)
    who = np.concatenate([stored_customer, customer]).astype(np.int64)
    when = np.concatenate([stored_micros, micros])
    source = np.concatenate([np.full(m, -1), np.arange(n)])  # stored first at equal times, then batch order
    order = np.lexsort((source, when, who))
    position = np.empty(n + m, dtype=np.int64)
    position[order] = np.arange(n + m)
    at = position[m:]
    who, when, source, amounts = who[order], when[order], source[order], np.concatenate([stored_amount, amount])[order]
    since = micros - int(BURST_WINDOW.total_seconds()) * 1_000_000
    # (customer, time) as one sortable key: times replaced by their rank among every time involved.
    times, rank = np.unique(np.concatenate([when, since]), return_inverse=True)
    keys = who * len(times) + rank[: n + m]
    first = np.searchsorted(keys, customer.astype(np.int64) * len(times) + rank[n + m:], side="left")
    segment = np.searchsorted(who, customer, side="left")
    count = np.minimum(at - first, BURST_LIMIT)
    total = np.zeros(n)
    for back in range(1, int(count.max(initial=0)) + 1):  # newest first, as the store adds them
        total = total + np.where(count >= back, amounts[np.maximum(at - back, 0)], 0.0)
    latest = when[np.maximum(at - 1, 0)]
    gap_limit = int(MAX_GAP_HOURS * 3600) * 1_000_000
    has_latest = (at - 1 >= segment) & (latest >= micros - gap_limit)
    hours = np.where(has_latest, np.minimum((micros - latest) / 1_000_000 / 3600, MAX_GAP_HOURS), MAX_GAP_HOURS)
    count = count.astype(np.float64)
    # Rows of a customer whose batch rows are out of time order: not everything before them is theirs to see.
    late = _customers_out_of_order(customer, micros)
    if late.size:
        segment_end = np.searchsorted(who, customer, side="right")
        for i in np.flatnonzero(np.isin(customer, late)).tolist():
            count[i], total[i], hours[i] = _activity_of(
                i, micros[i], since[i], gap_limit, when[segment[i]:segment_end[i]].tolist(),
                source[segment[i]:segment_end[i]].tolist(), amounts[segment[i]:segment_end[i]].tolist())
    return count, total, hours


def _customers_out_of_order(customer: np.ndarray, micros: np.ndarray) -> np.ndarray:
    by_customer = np.argsort(customer, kind="stable")  # batch order within a customer
    c, t = customer[by_customer], micros[by_customer]
    back_in_time = (c[1:] == c[:-1]) & (t[1:] < t[:-1])
    return np.unique(c[1:][back_in_time])


def _activity_of(row: int, until: int, since: int, gap_limit: int, when: list[int], source: list[int],
                 amounts: list[float]) -> tuple[float, float, float]:
    """``InMemoryProfileStore.customer_activity`` for one row over its customer's merged transactions."""
    seen = [k for k in range(len(when)) if source[k] < row and when[k] <= until]  # recorded, not after it
    start = len(seen)
    while start > 0 and when[seen[start - 1]] >= since and len(seen) - start < BURST_LIMIT:
        start -= 1
    total = 0.0
    for k in reversed(seen[start:]):
        total += amounts[k]
    hours = MAX_GAP_HOURS
    if seen and when[seen[-1]] >= until - gap_limit:
        hours = min((until - when[seen[-1]]) / 1_000_000 / 3600, MAX_GAP_HOURS)
    return float(len(seen) - start), total, hours


# ---------------------------------------------------------------------------------------------------
# Batch path
# ---------------------------------------------------------------------------------------------------


def build_features(raw: pd.DataFrame, *, label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS) -> pd.DataFrame:
    """One feature row per raw row (same index), columns ``FEATURE_COLUMNS``.

    ``raw`` needs ``tx_datetime, customer_id, terminal_id, tx_amount`` and optionally ``tx_fraud``
    (1 = confirmed fraud, 0 = confirmed legitimate, missing = unlabelled).
    """
    _check_delay(label_delay_days)
    n = len(raw)
    ts = pd.to_datetime(raw["tx_datetime"]).to_numpy(dtype="datetime64[ns]")
    order = np.argsort(ts, kind="stable")  # time order, ties by row order
    ts = ts[order]
    amount = raw["tx_amount"].to_numpy(dtype=np.float64)[order]
    label = (
        pd.to_numeric(raw["tx_fraud"], errors="coerce").to_numpy(dtype=np.float64)[order]
        if "tx_fraud" in raw
        else np.full(n, np.nan)
    )
    labelled = (~np.isnan(label)).astype(np.float64)
    fraud = np.where(labelled > 0, label, 0.0)
    customer = pd.factorize(raw["customer_id"].astype(str).to_numpy()[order])[0]
    terminal = pd.factorize(raw["terminal_id"].astype(str).to_numpy()[order])[0]
    day_ns = ts.astype("datetime64[D]")
    day = day_ns.astype(np.int64)
    day = day - (day.min() if n else 0)

    out: dict[str, np.ndarray] = {"tx_amount": amount}
    seconds = (ts - day_ns).astype("timedelta64[ns]").astype(np.int64) / 1e9
    out["hour_of_day"] = seconds / 3600
    out["is_night"] = (out["hour_of_day"] < NIGHT_END_HOUR).astype(np.float64)
    weekday = (day_ns.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
    out["is_weekend"] = (weekday >= 5).astype(np.float64)

    customer_windows = _DayWindows(customer, day, {"count": np.ones(n), "amount": amount})
    for w in WINDOWS_DAYS:
        sums = customer_windows.sums(w - 1, 0)
        count = sums["count"]
        out[f"customer_tx_count_{w}d"] = count
        out[f"customer_avg_amount_{w}d"] = np.divide(
            sums["amount"], count, out=np.full(n, TYPICAL_AMOUNT), where=count > 0
        )
    for w in (7, 30):
        avg = out[f"customer_avg_amount_{w}d"]
        out[f"amount_to_customer_avg_{w}d"] = np.divide(amount, avg, out=np.ones(n), where=avg > 0)

    count_1h, amount_1h, gap_hours = _customer_recency(customer, ts, amount)
    out["customer_tx_count_1h"] = count_1h
    out["customer_avg_amount_1h"] = np.divide(
        amount_1h, count_1h, out=np.full(n, TYPICAL_AMOUNT), where=count_1h > 0
    )
    out["hours_since_customer_prev_tx"] = gap_hours
    out["customer_prev_tx_recency"] = _recency(gap_hours)

    terminal_windows = _DayWindows(terminal, day, {"count": np.ones(n), "fraud": fraud, "labelled": labelled})
    for w in WINDOWS_DAYS:
        sums = terminal_windows.sums(label_delay_days + w - 1, label_delay_days)
        out[f"terminal_tx_count_{w}d"] = sums["count"]
        out[f"terminal_fraud_rate_{w}d"] = np.divide(sums["fraud"], sums["labelled"], out=np.zeros(n),
                                                     where=sums["labelled"] > 0)

    frame = np.empty((n, len(FEATURE_COLUMNS)))
    for j, name in enumerate(FEATURE_COLUMNS):
        frame[order, j] = out[name]
    return pd.DataFrame(frame, index=raw.index, columns=FEATURE_COLUMNS)


class _DayWindows:
    """Sums of per-row values over earlier rows of the same entity within a window of days.

    Rows must be in time order. Daily totals are accumulated per entity, so a window is the difference
    of two cumulative sums plus, when the window includes the row's own day, the earlier rows of that day.
    """

    def __init__(self, entity: np.ndarray, day: np.ndarray, values: dict[str, np.ndarray]):
        self.entity, self.day, self.values = entity, day, values
        self.stride = int(day.max()) + 2 if len(day) else 1
        row_key = entity.astype(np.int64) * self.stride + day
        self.keys, inverse = np.unique(row_key, return_inverse=True)
        daily_entity = self.keys // self.stride
        self.daily_entity = daily_entity
        self.cumulative = {}
        for name, v in values.items():
            daily = np.bincount(inverse, weights=v, minlength=len(self.keys))  # adds in row (time) order
            self.cumulative[name] = pd.Series(daily).groupby(daily_entity).cumsum().to_numpy()
        # Earlier rows of the same entity on the same day (exclusive running sums).
        frame = pd.DataFrame({"key": row_key, **values})
        running = frame.groupby("key", sort=False)[list(values)].cumsum()
        self.same_day = {name: running[name].to_numpy() - values[name] for name in values}

    def _cumulative_until(self, last_day: np.ndarray) -> dict[str, np.ndarray]:
        # A day before the data reads as "nothing yet": key -1 lands in the previous entity (invalid).
        query = self.entity.astype(np.int64) * self.stride + np.maximum(last_day, -1)
        idx = np.searchsorted(self.keys, query, side="right") - 1
        valid = idx >= 0
        valid[valid] = self.daily_entity[idx[valid]] == self.entity[valid]
        return {name: np.where(valid, cum[np.maximum(idx, 0)], 0.0) for name, cum in self.cumulative.items()}

    def sums(self, back: int, back_end: int) -> dict[str, np.ndarray]:
        """Sums over days [day - back, day - back_end] (earlier rows only on the row's own day)."""
        last_full = self.day - max(back_end, 1)
        upper = self._cumulative_until(last_full)
        lower = self._cumulative_until(self.day - back - 1)
        result = {name: upper[name] - lower[name] for name in self.values}
        if back_end == 0:
            for name in self.values:
                result[name] = result[name] + self.same_day[name]
        return result


def _customer_recency(customer: np.ndarray, ts: np.ndarray, amount: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (time order): the customer's earlier transactions in the last hour (the latest
    BURST_LIMIT, as the store returns them), their amount sum, and hours since the customer's previous
    transaction (capped at MAX_GAP_HOURS)."""
    n = len(ts)
    by_customer = np.lexsort((np.arange(n), ts, customer))  # customer, time, row order
    c, t = customer[by_customer], ts[by_customer].astype(np.int64)
    since = t - np.int64(BURST_WINDOW.total_seconds() * 1e9)
    # Number of rows before (c, since) in (customer, time) order: merge queries with rows, queries first.
    keys_c = np.concatenate([c, c])
    keys_t = np.concatenate([since, t])
    is_row = np.concatenate([np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int8)])
    merged = np.lexsort((is_row, keys_t, keys_c))
    rows_before = np.cumsum(is_row[merged]) - is_row[merged]
    first_in_window = np.empty(n, dtype=np.int64)
    query_positions = merged[is_row[merged] == 0]
    first_in_window[query_positions] = rows_before[is_row[merged] == 0]
    count = np.minimum(np.arange(n) - first_in_window, BURST_LIMIT)
    # Per-customer running sums (exclusive) keep the magnitudes, hence rounding, per customer.
    a = amount[by_customer]
    earlier = pd.Series(a).groupby(c).cumsum().to_numpy() - a
    positions = np.arange(n)
    amount_sum = earlier - earlier[positions - count]
    count = count.astype(np.float64)

    gap = np.full(n, MAX_GAP_HOURS)
    same = np.zeros(n, dtype=bool)
    same[1:] = c[1:] == c[:-1]
    gap[1:][same[1:]] = np.minimum((t[1:] - t[:-1])[same[1:]] / 3.6e12, MAX_GAP_HOURS)

    count_out, sum_out, gap_out = np.empty(n), np.empty(n), np.empty(n)
    count_out[by_customer], sum_out[by_customer], gap_out[by_customer] = count, amount_sum, gap
    return count_out, sum_out, gap_out


def _check_delay(label_delay_days: int) -> None:
    if label_delay_days < 0:
        raise ValueError("label_delay_days must be >= 0")
