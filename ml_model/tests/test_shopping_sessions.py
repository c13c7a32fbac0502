"""What a user notices: a customer's shopping session (several ordinary purchases within a minute at
nearby terminals, as the demo submits them) is approved at any hour, while an absurd purchase right
after is blocked and card-testing bursts (tiny amounts, minutes apart, random terminals) stay high
risk. Scored like the fraud service does: online features from an ``InMemoryProfileStore``, the
verified artifacts of a ``train_and_save`` model."""

from datetime import datetime, timedelta

import pytest

from ml_model import scoring
from ml_model.artifacts import load_verified
from ml_model.profile_store import InMemoryProfileStore, Transaction
from ml_model.testing import score_and_record

# example_usage.py: a new customer's four ordinary purchases, then an abnormal one.
SESSION = (("T-0001", 23.50), ("T-0002", 41.20), ("T-0001", 17.80), ("T-0003", 35.00))
ABSURD = ("T-0999", 9_850.00)
# Card testing as the simulator draws it: amounts U(0.5, 3) at terminals anywhere, minutes apart.
PROBES = (1.00, 2.35, 0.50, 2.99, 1.75, 0.80)
# Card testing is a small share of the fraud the forest is trained against, and this small model sees
# only a few bursts, so probes are not all blocked (the default model blocks most of them, see the
# README). The bound: the burst's last probe scores at least LAST_PROBE_MIN_RISK and at least
# LAST_PROBE_MIN_RATIO times the riskiest purchase of a shopping session at the same hour (measured
# over every hour: 0.16-0.41, at least 4.4× the session's riskiest purchase, which is at most 0.09).
LAST_PROBE_MIN_RISK = 0.12
LAST_PROBE_MIN_RATIO = 3.0


@pytest.fixture(scope="module")
def loaded(trained_dir):
    return load_verified(trained_dir)


def _session(loaded, store, customer: str, start: datetime, purchases) -> list[tuple[str, float]]:
    return [
        score_and_record(loaded, store, Transaction(f"{customer}-{start:%H}-{i}", customer, terminal, amount,
                                                    start + timedelta(seconds=4 * i)))
        for i, (terminal, amount) in enumerate(purchases)
    ]


@pytest.mark.parametrize("hour", range(24))
def test_a_new_customers_shopping_session_is_approved_and_an_absurd_purchase_after_it_blocked(loaded, hour):
    verdicts = _session(loaded, InMemoryProfileStore(), "new", datetime(2025, 9, 3, hour, 7), SESSION + (ABSURD,))
    assert [d for d, _ in verdicts[:-1]] == [scoring.APPROVED] * len(SESSION), verdicts
    assert verdicts[-1][0] == scoring.BLOCKED and verdicts[-1][1] > 0.5, verdicts


def _with_history(customer: str, before: datetime) -> InMemoryProfileStore:
    """A customer with two ordinary purchases a day near home over the previous ten days."""
    store = InMemoryProfileStore()
    for d in range(1, 11):
        for i, (terminal, amount) in enumerate((("T-0001", 31.0), ("T-0002", 44.5))):
            at = before - timedelta(days=d) + timedelta(hours=3 * i)
            store.record_transaction(Transaction(f"{customer}-h{d}-{i}", customer, terminal, amount, at))
    return store


@pytest.mark.parametrize("history", [False, True], ids=["new card", "established card"])
@pytest.mark.parametrize("hour", [2, 9, 14, 20])
def test_card_testing_bursts_score_well_above_shopping_sessions(loaded, hour, history):
    start = datetime(2025, 9, 3, hour, 21)
    session = _session(loaded, InMemoryProfileStore(), "shopper", start, SESSION)
    store = _with_history("victim", start) if history else InMemoryProfileStore()
    burst = [
        score_and_record(loaded, store, Transaction(f"probe-{i}", "victim", f"T-{500 + 37 * i:04d}", amount,
                                                    start + timedelta(minutes=3 * i)))
        for i, amount in enumerate(PROBES)
    ]
    last_probe_risk = burst[-1][1]
    assert last_probe_risk >= LAST_PROBE_MIN_RISK, burst
    assert last_probe_risk >= LAST_PROBE_MIN_RATIO * max(risk for _, risk in session), (burst, session)
