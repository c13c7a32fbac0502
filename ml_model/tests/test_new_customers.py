"""What a user notices: a brand-new customer's ordinary first purchase is approved at any hour (UTC),
while an absurd first purchase is blocked. Scored like the fraud service does: online features from an
empty profile store, the verified artifacts of a model trained by ``train_and_save``."""

from datetime import datetime

import pytest

from ml_model import scoring
from ml_model.artifacts import load_verified
from ml_model.profile_store import InMemoryProfileStore, Transaction
from ml_model.testing import score_and_record

# Around the simulated customers' typical means (U(5, 100)); terminals never seen in training, as in
# the demo (example_usage.py).
ORDINARY_AMOUNTS = (12.0, 17.8, 23.5, 35.0, 41.2, 60.0, 85.0)
# Tolerated share of blocked ordinary first purchases: the model's alert rate is 1 %, and a new
# customer must not be much worse off than an established one.
MAX_BLOCKED_SHARE = 0.02


def _first_purchase_scores(model_dir, amount: float, hour: int) -> tuple[str, float]:
    tx = Transaction(f"first-{amount}-{hour}", "brand-new", "T-0001", amount, datetime(2025, 9, 3, hour, 53))
    return score_and_record(load_verified(model_dir), InMemoryProfileStore(), tx)


def test_ordinary_first_purchases_are_approved_at_every_hour(trained_dir):
    verdicts = {(amount, hour): _first_purchase_scores(trained_dir, amount, hour)
                for amount in ORDINARY_AMOUNTS for hour in range(24)}
    blocked = [key for key, (decision, _) in verdicts.items() if decision == scoring.BLOCKED]
    assert len(blocked) / len(verdicts) <= MAX_BLOCKED_SHARE, f"blocked: {blocked}"
    night = [risk for (amount, hour), (_, risk) in verdicts.items() if hour < 6 and amount == 23.5]
    assert max(night) < 0.5


@pytest.mark.parametrize("hour", [2, 14])
def test_an_absurd_first_purchase_is_blocked(trained_dir, hour):
    decision, risk = _first_purchase_scores(trained_dir, 9_850.0, hour)
    assert decision == scoring.BLOCKED and risk > 0.5
