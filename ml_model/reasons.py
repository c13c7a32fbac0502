"""Analyst-readable reasons for a decision, built from per-feature contributions (``ml_model.attribution``).

Features that say the same thing are one reason: the amount and its ratios to the customer's 7- and
30-day averages are "the amount", the 1-hour count, its average amount and the time since the previous
purchase are "the recent burst", and so on (``REASON_GROUPS``). A group's weight is the sum of its
features' contributions; the reasons are the groups that pushed the score up, heaviest first, each
phrased with the comparison that makes it meaningful ("amount 9,850.00 EUR is 335× this customer's
30-day average of 29.37"). Groups far lighter than the heaviest (under ``MIN_SHARE`` of it) are left
out: they moved the score, but not enough to be why.

An APPROVED payment whose risk is under ``ReasonPolicy.from_risk`` gets ``NOTHING_STANDS_OUT`` instead: its
top contributions are only the least ordinary parts of an ordinary payment, and listing them reads as an
accusation. ``from_risk`` is the start of the review band (``REVIEW_BAND_FROM_RISK``): a payment an analyst
is asked to look at is always told why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from ml_model import scoring
from ml_model.artifacts import LoadedModel
from ml_model.attribution import model_contributions
from ml_model.features import FEATURE_COLUMNS, MAX_GAP_HOURS, WINDOWS_DAYS, online_features
from ml_model.profile_store import InMemoryProfileStore, Transaction
from ml_model.scoring import APPROVED

NOTHING_STANDS_OUT = "no risk factor stands out"
MIN_SHARE = 0.2
# Where the review band starts: an APPROVED payment at or above this risk enters the analyst console's queue
# (the transaction service) and is explained like a blocked one (here); under it, NOTHING_STANDS_OUT. Both
# services read it from one variable, REVIEW_THRESHOLD (CONVENTIONS.md), whose default this is; the
# transaction service, which has no ml_model, repeats the number and its tests check the two agree.
REVIEW_BAND_FROM_RISK = 0.23


@dataclass(frozen=True)
class ReasonPolicy:
    max_reasons: int = 3
    from_risk: float = REVIEW_BAND_FROM_RISK  # APPROVED under this risk: NOTHING_STANDS_OUT


REASON_GROUPS: dict[str, tuple[str, ...]] = {
    "amount": ("tx_amount", "amount_to_customer_avg_7d", "amount_to_customer_avg_30d",
               *(f"customer_avg_amount_{w}d" for w in WINDOWS_DAYS)),
    "burst": ("customer_tx_count_1h", "customer_avg_amount_1h", "customer_prev_tx_recency",
              "hours_since_customer_prev_tx"),
    "timing": ("hour_of_day", "is_night", "is_weekend"),
    "activity": tuple(f"customer_tx_count_{w}d" for w in WINDOWS_DAYS),
    "terminal": tuple(f"terminal_{kind}_{w}d" for w in WINDOWS_DAYS for kind in ("tx_count", "fraud_rate")),
}
GROUP_OF = {feature: group for group, features in REASON_GROUPS.items() for feature in features}
assert sorted(GROUP_OF) == sorted(FEATURE_COLUMNS), "every feature belongs to exactly one reason group"


def reasons_for(
    contributions: Mapping[str, float],
    features: Mapping[str, float],
    *,
    decision: str,
    risk: float,
    terminal_id: str,
    timestamp: datetime,
    label_delay_days: int,
    currency: str | None = None,
    policy: ReasonPolicy = ReasonPolicy(),
) -> list[str]:
    """The reasons of one decision. ``contributions``: feature → share of the model's score (positive =
    towards BLOCKED), model features only; ``features``: every feature's value (``online_features``)."""
    if not stands_out(decision, risk, policy):
        return [NOTHING_STANDS_OUT]
    weights = dict.fromkeys(REASON_GROUPS, 0.0)  # a group without model features stays at 0: never a reason
    for feature, contribution in contributions.items():
        weights[GROUP_OF[feature]] += contribution
    ranked = sorted([(w, g) for g, w in weights.items() if w > 0], reverse=True)
    if not ranked:
        return [NOTHING_STANDS_OUT]
    chosen = [group for weight, group in ranked if weight >= MIN_SHARE * ranked[0][0]][:policy.max_reasons]
    phrase = _Phrases(contributions, features, terminal_id, timestamp, label_delay_days, currency)
    return [getattr(phrase, group)() for group in chosen]


def stands_out(decision: str, risk: float, policy: ReasonPolicy = ReasonPolicy()) -> bool:
    """Whether ``reasons_for`` looks for reasons at all: else the answer is ``[NOTHING_STANDS_OUT]``
    whatever the contributions (the module docstring), and a caller need not gather them."""
    return not (decision == APPROVED and risk < policy.from_risk)


# Names the phrases read, built once rather than formatted on every call; each window-named feature's window.
_AMOUNT_RATIOS = {w: f"amount_to_customer_avg_{w}d" for w in (7, 30)}
_CUSTOMER_COUNTS = {w: f"customer_tx_count_{w}d" for w in WINDOWS_DAYS}
_CUSTOMER_AVERAGES = {w: f"customer_avg_amount_{w}d" for w in WINDOWS_DAYS}
_TERMINAL_WINDOWS = tuple((w, f"terminal_tx_count_{w}d", f"terminal_fraud_rate_{w}d") for w in WINDOWS_DAYS)
_WINDOW_OF = {name: w for names in (_AMOUNT_RATIOS, _CUSTOMER_COUNTS) for w, name in names.items()} | {
    name: w for w, *names in _TERMINAL_WINDOWS for name in names}


class _Phrases:
    def __init__(self, contributions: Mapping[str, float], features: Mapping[str, float], terminal_id: str,
                 timestamp: datetime, label_delay_days: int, currency: str | None) -> None:
        self.c, self.f = contributions, features
        self.terminal_id, self.timestamp, self.delay = terminal_id, timestamp, label_delay_days
        self.unit = f" {currency}" if currency else ""

    def money(self, value: float) -> str:
        return f"{value:,.2f}{self.unit}"

    def heaviest(self, names: list[str]) -> str:
        return max(names, key=lambda name: self.c.get(name, float("-inf")))

    def amount(self) -> str:
        amount = self.money(self.f["tx_amount"])
        if self.f["customer_tx_count_30d"] == 0:
            return f"amount {amount}, with no earlier purchase by this customer in the last 30 days to compare with"
        # The window whose ratio moved the score most, unless it holds no purchase (its average is then
        # the typical amount, not this customer's).
        window = _WINDOW_OF[self.heaviest([_AMOUNT_RATIOS[w] for w in (7, 30) if self.f[_CUSTOMER_COUNTS[w]] > 0])]
        average = self.f[_CUSTOMER_AVERAGES[window]]
        ratio = self.f["tx_amount"] / average
        habit = f"this customer's {window}-day average of {average:,.2f}"
        if ratio >= 1.5:
            return f"amount {amount} is {_times(ratio)} {habit}"
        if ratio <= 1 / 1.5:
            return f"amount {amount} is well below {habit}"
        return f"amount {amount}, close to {habit}"

    def burst(self) -> str:
        count = int(self.f["customer_tx_count_1h"])
        gap = self.f["hours_since_customer_prev_tx"]
        if count == 0:
            if gap >= MAX_GAP_HOURS:
                return "no purchase by this customer in the previous 30 days"
            return f"previous purchase by this customer {_duration(gap)} earlier"
        average = self.money(self.f["customer_avg_amount_1h"])
        if count == 1:
            return f"1 purchase in the previous hour, of {average}, {_duration(gap)} earlier"
        return f"{count} purchases in the previous hour, averaging {average}, the latest {_duration(gap)} earlier"

    def timing(self) -> str:
        at = f"made at {self.timestamp.hour:02d}:{self.timestamp.minute:02d} UTC"  # %H:%M without strftime
        if self.c.get("is_weekend", 0.0) > 0 and self.f["is_weekend"]:
            return f"{at} on a {self.timestamp:%A}"
        return at

    def activity(self) -> str:
        name = self.heaviest([n for n in REASON_GROUPS["activity"] if n in self.c])
        window = _WINDOW_OF[name]
        count = int(self.f[name])
        period = "the same day (UTC)" if window == 1 else f"the last {window} days"
        return f"{_purchases(count)} by this customer in {period}"

    def terminal(self) -> str:
        newest = (self.timestamp - timedelta(days=self.delay)).date()
        counts, frauds, with_fraud = {}, {}, []
        for w, count_name, rate_name in _TERMINAL_WINDOWS:
            counts[w] = int(self.f[count_name])
            frauds[w] = round(self.f[rate_name] * counts[w])
            if frauds[w]:
                with_fraud.append(rate_name)
        name = self.heaviest(with_fraud or [n for n in REASON_GROUPS["terminal"] if n in self.c])
        window = _WINDOW_OF[name]
        period = f"on {newest}" if window == 1 else f"in the {window} days to {newest}"
        who = f"terminal {self.terminal_id}"
        if frauds[window]:
            return f"{who}: {frauds[window]} of its {counts[window]} labelled payments {period} were fraud"
        if counts[window] == 0:
            return f"{who}: no labelled payment {period}"
        return f"{who}: {counts[window]} labelled payments {period}, none fraud"


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def _purchases(count: int) -> str:
    return "no purchase" if count == 0 else "1 purchase" if count == 1 else f"{count} purchases"


def _duration(hours: float) -> str:
    seconds = hours * 3600
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if hours < 1.5:
        return f"{seconds / 60:.0f} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.0f} days"


# The worked example of the model card: a new customer's purchases a few seconds apart, as
# example_usage.py submits them (four ordinary ones, then an abnormal one).
WORKED_EXAMPLE = (("T-0001", 23.50), ("T-0002", 41.20), ("T-0001", 17.80), ("T-0003", 35.00), ("T-0999", 9850.00))


def worked_example(loaded: LoadedModel, start: datetime) -> list[tuple[float, str, float, list[str]]]:
    """(amount, decision, risk, reasons) of each ``WORKED_EXAMPLE`` purchase from ``start`` on, scored by
    the batch path (scikit-learn's trees) against an empty in-memory history."""
    store = InMemoryProfileStore()
    answers = []
    for i, (terminal, amount) in enumerate(WORKED_EXAMPLE):
        tx = Transaction(f"example-{i}", "example-customer", terminal, amount, start + timedelta(seconds=4 * i), "EUR")
        features = online_features(tx, store, label_delay_days=loaded.label_delay_days)
        store.record_transaction(tx)
        row = np.array([[features[name] for name in loaded.feature_columns]])
        score = float(scoring.model_score(loaded, row)[0])  # a hybrid's fraud probability, else the anomaly score
        risk = float(scoring.risk_score(score, loaded.calibration))
        outcome = str(scoring.decision(score, loaded.threshold))
        shares = model_contributions(loaded, row)[0][0]
        reasons = reasons_for(dict(zip(loaded.feature_columns, shares.tolist(), strict=True)), features,
                              decision=outcome, risk=risk, terminal_id=terminal, timestamp=tx.timestamp,
                              label_delay_days=loaded.label_delay_days, currency=tx.currency)
        answers.append((amount, outcome, risk, reasons))
    return answers
