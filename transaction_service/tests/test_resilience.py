"""Fraud service faults under each fallback policy: the transaction is stored every time, and a broken
or unknown answer is never an approval by the model."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from app.models import Transaction, utcnow
from app.services.fallback import FALLBACK_REASON
from app.statuses import PENDING
from sqlalchemy import select
from sqlalchemy.orm import Session

from fastapi_plumbing.testing import eventually
from tests.support.api import Api

FAULTS = {
    "down": lambda stub: stub.stop(),
    "slow": lambda stub: setattr(stub, "delay", 1.5),  # beyond the 1.0 s read timeout, on both tries
    "error500": lambda stub: setattr(stub, "mode", "error500"),
    "garbage": lambda stub: setattr(stub, "mode", "garbage"),
    "wrong_shape": lambda stub: setattr(stub, "mode", "wrong_shape"),
    "unknown_decision": lambda stub: setattr(stub, "mode", "unknown_decision"),
    "wrong_id": lambda stub: setattr(stub, "mode", "wrong_id"),
}
EXPECTED_REASON = {"down": "unreachable", "slow": "timeout", "error500": "http_500", "garbage": "not JSON",
                   "wrong_shape": "malformed", "unknown_decision": "decision", "wrong_id": "transaction_id"}
# (policy, amount) → the status the fallback must give.
POLICIES = [("block", "42.50", "BLOCKED"), ("approve", "42.50", "APPROVED"),
            ("approve_below:100", "42.50", "APPROVED"), ("approve_below:100", "150.00", "BLOCKED")]


def _fallback_log_line(service, transaction_id: str) -> str:
    lines = [line for line in service.log().splitlines() if "no model decision" in line and transaction_id in line]
    assert lines, service.log()
    return lines[-1]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("policy", "amount", "expected"), POLICIES)
def test_fallback_policy_decides_when_the_fraud_service_fails(
        fault, policy, amount, expected, start_app, signing_key, healthy_fraud_stub, engine):
    service = start_app(FRAUD_FALLBACK_POLICY=policy)
    api = Api(service.url, signing_key)
    FAULTS[fault](healthy_fraud_stub)

    started = time.monotonic()
    response = api.create(amount, user=41)
    elapsed = time.monotonic() - started

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == expected
    staff = api.staff_view(body["id"])
    assert staff["decided_by"] == "fallback"
    assert staff["risk_score"] is None and staff["model_version"] is None
    # Why, and the policy that decided, are in the log, never in the stored reasons.
    assert staff["reasons"] == [FALLBACK_REASON]
    logged = _fallback_log_line(service, body["id"])
    assert EXPECTED_REASON[fault] in logged and policy in logged
    assert elapsed < 4  # the 2.5 s deadline holds even against a slow service
    with Session(engine) as session:
        stored = session.get(Transaction, uuid.UUID(body["id"]))
    assert stored.status == expected and stored.decided_by == "fallback" and stored.amount == Decimal(amount)
    assert stored.contributions is None  # nothing the model computed


def test_a_5xx_is_retried_once_and_a_recovered_service_decides_again(api, healthy_fraud_stub):
    healthy_fraud_stub.mode = "error500"
    failed = api.create(user=42).json()
    assert len(healthy_fraud_stub.calls("/predict")) == 2  # one retry, not more

    healthy_fraud_stub.mode = "model"
    recovered = api.create(user=42).json()
    assert api.staff_view(failed["id"])["decided_by"] == "fallback"
    assert api.staff_view(recovered["id"])["decided_by"] == "model" and recovered["status"] == "APPROVED"


def test_a_single_5xx_is_retried_and_the_model_still_decides(api, healthy_fraud_stub):
    healthy_fraud_stub.errors_before_mode = 1

    body = api.create(user=42).json()

    assert api.staff_view(body["id"])["decided_by"] == "model" and body["status"] == "APPROVED"
    assert len(healthy_fraud_stub.calls("/predict")) == 2


def test_a_rejected_internal_token_is_not_retried(start_app, signing_key, healthy_fraud_stub):
    service = start_app(INTERNAL_TOKEN="wrong-token-of-a-valid-length")
    api = Api(service.url, signing_key)

    body = api.create(user=43).json()

    assert body["status"] == "BLOCKED" and api.staff_view(body["id"])["decided_by"] == "fallback"
    assert "http_401" in _fallback_log_line(service, body["id"])
    assert len(healthy_fraud_stub.calls("/predict")) == 1


def test_circuit_opens_after_repeated_failures_and_closes_after_a_good_probe(
        start_app, signing_key, healthy_fraud_stub):
    service = start_app(FRAUD_BREAKER_FAILURE_THRESHOLD="2", FRAUD_BREAKER_RESET_SECONDS="1")
    api = Api(service.url, signing_key)
    healthy_fraud_stub.mode = "error500"
    api.create(user=44)
    api.create(user=44)
    calls_before = len(healthy_fraud_stub.calls("/predict"))

    short_circuited = api.create(user=44).json()

    assert len(healthy_fraud_stub.calls("/predict")) == calls_before  # not even tried
    assert api.staff_view(short_circuited["id"])["reasons"] == [FALLBACK_REASON]
    assert "circuit open" in _fallback_log_line(service, short_circuited["id"])
    healthy_fraud_stub.mode = "model"
    time.sleep(1.1)
    for _ in range(2):
        assert api.staff_view(api.create(user=44).json()["id"])["decided_by"] == "model"


@pytest.mark.parametrize("answer", ["reject", "garbage", "wrong_id"])
def test_answers_about_one_request_never_open_the_circuit(answer, start_app, signing_key, healthy_fraud_stub):
    # Before: five staff captures the fraud service refused (422) opened the breaker, and the next
    # customer's payment was decided by the fallback.
    api = Api(start_app(FRAUD_BREAKER_FAILURE_THRESHOLD="2", FRAUD_BREAKER_RESET_SECONDS="60").url, signing_key)
    healthy_fraud_stub.mode = answer
    refused = [api.create(user=46).json()["id"] for _ in range(5)]
    assert {api.staff_view(txn)["decided_by"] for txn in refused} == {"fallback"}
    assert len(healthy_fraud_stub.calls("/predict")) == 5  # each tried once: no retry, no short circuit

    healthy_fraud_stub.mode = "model"
    next_customer = api.create(user=47).json()

    assert next_customer["status"] == "APPROVED"
    assert api.staff_view(next_customer["id"])["decided_by"] == "model"


def test_a_transaction_left_pending_by_a_dead_process_is_scored_later(api, engine, healthy_fraud_stub):
    # What a crash between "stored" and "decided" leaves behind.
    abandoned_id = uuid.uuid4()
    abandoned = Transaction(id=abandoned_id, customer_id="45", terminal_id="T-1", amount=Decimal("12.00"),
                            currency="EUR", timestamp=utcnow(), status=PENDING, reasons=[],
                            created_at=utcnow() - timedelta(seconds=30))
    with Session(engine) as session:
        session.add(abandoned)
        session.commit()

    def decided():
        with Session(engine) as session:
            row = session.scalars(select(Transaction).where(Transaction.id == abandoned_id)).one()
            return row if row.status != PENDING else None

    row = eventually(decided, timeout=10)
    assert row.status == "APPROVED" and row.decided_by == "model"
    assert any(body["transaction_id"] == str(abandoned_id) for _, body in healthy_fraud_stub.calls("/predict"))
