"""The fraud client on its own, against the stub: deadline, retry, circuit breaker."""

from __future__ import annotations

import time
import uuid

import pytest
from app.clients.circuit_breaker import CircuitBreaker
from app.clients.fraud import FraudClient, FraudServiceUnavailable
from app.core.logging import request_id_var

from tests.conftest import INTERNAL_TOKEN


def _client(url: str, *, deadline: float = 1.0, threshold: int = 100, reset: float = 30) -> FraudClient:
    return FraudClient(url, INTERNAL_TOKEN, connect_timeout=0.2, read_timeout=0.4, deadline=deadline,
                       retry_backoff=0.05, breaker=CircuitBreaker(threshold, reset))


def _payload() -> dict:
    return {"transaction_id": str(uuid.uuid4()), "customer_id": "1", "terminal_id": "T", "amount": 10.0,
            "timestamp": "2026-01-01T00:00:00+00:00"}


def test_answer_is_validated_and_request_id_passed_on(healthy_fraud_stub):
    client = _client(healthy_fraud_stub.url)
    token = request_id_var.set("trace-123")
    try:
        decision = client.predict(_payload())
    finally:
        request_id_var.reset(token)

    assert decision.decision == "APPROVED" and 0 <= decision.risk_score <= 1
    assert healthy_fraud_stub.calls("/predict")[-1][0]["X-Request-ID"] == "trace-123"


def test_overall_deadline_bounds_a_slow_service(healthy_fraud_stub):
    healthy_fraud_stub.delay = 3
    client = _client(healthy_fraud_stub.url, deadline=0.6)

    started = time.monotonic()
    with pytest.raises(FraudServiceUnavailable, match="timeout"):
        client.predict(_payload())

    assert time.monotonic() - started < 0.9


def test_connection_refused_is_retried_once(healthy_fraud_stub):
    healthy_fraud_stub.stop()
    client = _client(healthy_fraud_stub.url)

    with pytest.raises(FraudServiceUnavailable, match="unreachable"):
        client.predict(_payload())


def test_garbage_is_not_retried(healthy_fraud_stub):
    healthy_fraud_stub.mode = "garbage"

    with pytest.raises(FraudServiceUnavailable, match="not JSON"):
        _client(healthy_fraud_stub.url).predict(_payload())

    assert len(healthy_fraud_stub.calls("/predict")) == 1


def test_open_circuit_lets_one_probe_through_after_the_reset_time():
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=10, clock=lambda: clock[0])
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow() and breaker.state == "open"

    clock[0] = 10
    assert breaker.state == "half-open"
    assert breaker.allow()
    assert not breaker.allow()  # only one probe at a time
    breaker.record_failure()
    assert not breaker.allow()  # failed probe: open again for a full period

    clock[0] = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
