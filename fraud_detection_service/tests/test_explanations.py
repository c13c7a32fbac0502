"""Explanations a person would check: on a payment where exactly one thing is extreme, that thing ranks
first and is the first reason; ordinary payments carry no accusation; the demo's blocked purchase names
its amount once. Judged on the fast path (``RiskEngine.judge_one``, the compiled forest) against an
in-memory history, and over HTTP for the demo."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.services.risk_engine import RiskEngine, Verdict
from ml_model.features import online_features
from ml_model.profile_store import InMemoryProfileStore, Transaction
from ml_model.reasons import GROUP_OF, NOTHING_STANDS_OUT, ReasonPolicy
from tests.helpers import (
    DAY0,
    PROBE_DAY,
    extreme_amount,
    extreme_burst,
    extreme_night,
    extreme_terminal_fraud_rate,
    new_id,
    transaction,
)

# example_usage.py: a new customer's four ordinary purchases, then an abnormal one.
DEMO_ORDINARY = (("T-0001", 23.50), ("T-0002", 41.20), ("T-0001", 17.80), ("T-0003", 35.00))
DEMO_ABNORMAL = ("T-0999", 9850.00)


@pytest.fixture(scope="module")
def risk(model_dir) -> RiskEngine:
    # Reasons for every decision, approved ones included, so the wording of each kind is checked.
    return RiskEngine.load(model_dir, reasons=ReasonPolicy(from_risk=0.0))


def _judge(risk: RiskEngine, store: InMemoryProfileStore, tx: Transaction) -> Verdict:
    return risk.judge_one(online_features(tx, store, label_delay_days=risk.label_delay_days), tx)


def _top_group(verdict: Verdict) -> str:
    return GROUP_OF[verdict.contributions[0]["feature"]]


def test_an_extreme_amount_ranks_first_and_is_named_with_the_customers_average(risk):
    verdict = _judge(risk, *extreme_amount())
    assert _top_group(verdict) == "amount", verdict.contributions
    assert verdict.reasons[0].startswith("amount 2,400.00 EUR is 6"), verdict.reasons  # ~63× a 38 EUR habit
    assert "× this customer's" in verdict.reasons[0] and "-day average of 3" in verdict.reasons[0]


def test_a_burst_ranks_first_and_is_counted(risk):
    verdict = _judge(risk, *extreme_burst())  # ordinary amounts at the usual terminal, far too many in the hour
    assert verdict.contributions[0]["feature"] == "customer_tx_count_1h", verdict.contributions
    assert verdict.reasons[0] == "9 purchases in the previous hour, averaging 38.00, the latest 3 minutes earlier"


def test_a_night_hour_ranks_first(risk):
    verdict = _judge(risk, *extreme_night())
    assert verdict.contributions[0]["feature"] == "hour_of_day", verdict.contributions
    assert verdict.reasons[0] == "made at 03:30 UTC"


def test_a_terminals_fraud_rate_ranks_first_and_is_counted(risk):
    verdict = _judge(risk, *extreme_terminal_fraud_rate())
    assert verdict.contributions[0]["feature"].startswith("terminal_fraud_rate_"), verdict.contributions
    window_end = (PROBE_DAY - timedelta(days=risk.label_delay_days)).date()
    expected = f"terminal T-bad: 4 of its 8 labelled payments in the 7 days to {window_end} were fraud"
    assert verdict.reasons[0] == expected


def test_reasons_are_stable_across_repeated_calls(risk):
    store, tx = extreme_amount()
    features = online_features(tx, store, label_delay_days=risk.label_delay_days)
    first = risk.judge_one(features, tx)
    assert all(risk.judge_one(dict(features), tx) == first for _ in range(20))


def _predict(client, customer: str, terminal: str, amount: float, when: datetime) -> dict:
    response = client.post("/predict", json={**transaction(customer, terminal, amount, when), "currency": "EUR"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("hour", [2, 14])
def test_the_demos_ordinary_purchases_accuse_nothing_and_its_blocked_one_names_the_amount_once(client, hour):
    customer, start = new_id("demo"), DAY0 + timedelta(days=20, hours=hour, minutes=7)
    ordinary = [_predict(client, customer, terminal, amount, start + timedelta(seconds=4 * i))
                for i, (terminal, amount) in enumerate(DEMO_ORDINARY)]
    blocked = _predict(client, customer, *DEMO_ABNORMAL, start + timedelta(seconds=20))

    model_features = {f["name"] for f in client.get("/model").json()["features"]}
    for answer in ordinary:
        assert answer["decision"] == "APPROVED"
        assert answer["reasons"] == [NOTHING_STANDS_OUT], answer
        # Still computed and returned: staff can look deeper than the reasons.
        assert {c["feature"] for c in answer["contributions"]} == model_features
    assert blocked["decision"] == "BLOCKED"
    assert blocked["contributions"][0]["feature"] in {"tx_amount", "amount_to_customer_avg_7d",
                                                      "amount_to_customer_avg_30d"}
    assert sum("amount" in reason for reason in blocked["reasons"]) == 1, blocked["reasons"]
    assert blocked["reasons"][0].startswith("amount 9,850.00 EUR is 335× this customer's"), blocked["reasons"]
