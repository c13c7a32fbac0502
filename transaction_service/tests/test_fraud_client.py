"""The fraud client on its own, against the stub fraud service misbehaving on a real socket: deadline,
retry, failure reasons and their metric labels, circuit breaker, and the blocking calls of worker threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from app.clients.circuit_breaker import CircuitBreaker
from app.clients.fraud import FraudClient, FraudServiceUnavailable
from prometheus_client import REGISTRY

from fastapi_plumbing.logging import request_id
from tests.conftest import INTERNAL_TOKEN


@contextlib.asynccontextmanager
async def _client(url: str, *, deadline: float = 1.0, threshold: int = 100,
                  token: str = INTERNAL_TOKEN) -> AsyncIterator[FraudClient]:
    client = FraudClient(url, token, connect_timeout=0.2, read_timeout=0.4, deadline=deadline,
                         retry_backoff=0.05, breaker=CircuitBreaker(threshold, reset_seconds=30))
    try:
        yield client
    finally:
        await client.aclose()


def _payload() -> dict:
    return {"transaction_id": str(uuid.uuid4()), "customer_id": "1", "terminal_id": "T", "amount": 10.0,
            "timestamp": "2026-01-01T00:00:00+00:00"}


def _errors_counted(reason: str) -> float:
    return REGISTRY.get_sample_value("transaction_fraud_service_errors_total", {"reason": reason}) or 0.0


@pytest.mark.anyio
async def test_answer_is_validated_and_both_headers_passed_on(healthy_fraud_stub):
    token = request_id.set("trace-123")
    try:
        async with _client(healthy_fraud_stub.url) as client:
            decision = await client.apredict(_payload())
    finally:
        request_id.reset(token)

    assert decision.decision == "APPROVED" and 0 <= decision.risk_score <= 1
    headers = healthy_fraud_stub.calls("/predict")[-1][0]
    assert headers["X-Request-ID"] == "trace-123" and headers["X-Internal-Token"] == INTERNAL_TOKEN


# fault: (what the stub does, start of the reason, metrics label, calls the stub sees; None: it cannot count)
FAULTS = {
    "refused": (lambda stub: stub.stop(), "unreachable (ClientConnectorError)", "unreachable", None),
    "slow beyond the read timeout": (lambda stub: setattr(stub, "delay", 1.0), "timeout", "timeout", 2),
    "5xx every time": (lambda stub: setattr(stub, "mode", "error500"), "http_500", "http_500", 2),
    "garbage body": (lambda stub: setattr(stub, "mode", "garbage"), "malformed answer (not JSON)", "malformed", 1),
    "wrong schema": (lambda stub: setattr(stub, "mode", "wrong_shape"), "malformed answer (", "malformed", 1),
    "another transaction's id": (lambda stub: setattr(stub, "mode", "wrong_id"),
                                 "malformed answer (transaction_id does not match", "malformed", 1),
    "internal token refused": (lambda stub: None, "http_401", "http_401", 1),
    "payload refused": (lambda stub: setattr(stub, "mode", "reject"), "http_422", "http_422", 1),
}


@pytest.mark.anyio
@pytest.mark.parametrize("fault", FAULTS)
async def test_each_fault_is_named_counted_and_retried_only_when_it_may_pass(fault, healthy_fraud_stub, caplog):
    caplog.set_level(logging.INFO, logger="app.clients.fraud")
    cause, reason, label, calls = FAULTS[fault]
    cause(healthy_fraud_stub)
    counted_before = _errors_counted(label)
    token = "wrong-token" if fault == "internal token refused" else INTERNAL_TOKEN

    async with _client(healthy_fraud_stub.url, token=token) as client:
        started = time.monotonic()
        with pytest.raises(FraudServiceUnavailable) as raised:
            await client.apredict(_payload())
        elapsed = time.monotonic() - started

    assert raised.value.reason.startswith(reason)
    assert _errors_counted(label) == counted_before + 1  # one failed call, whatever the tries
    retried = "retrying once" in caplog.text
    assert retried == (label in ("unreachable", "timeout", "http_500"))
    if calls is not None:
        assert len(healthy_fraud_stub.calls("/predict")) == calls
    assert elapsed < 1.0 + 0.2  # the deadline holds, retry included


@pytest.mark.anyio
async def test_a_5xx_blip_is_retried_and_the_second_answer_used(healthy_fraud_stub):
    healthy_fraud_stub.errors_before_mode = 1

    async with _client(healthy_fraud_stub.url) as client:
        decision = await client.apredict(_payload())

    assert decision.decision == "APPROVED"
    assert len(healthy_fraud_stub.calls("/predict")) == 2
    assert client.breaker.state == "closed"


@pytest.mark.anyio
async def test_overall_deadline_bounds_both_tries_of_a_slow_service(healthy_fraud_stub):
    healthy_fraud_stub.delay = 3

    async with _client(healthy_fraud_stub.url, deadline=0.6) as client:
        started = time.monotonic()
        with pytest.raises(FraudServiceUnavailable, match="timeout"):
            await client.apredict(_payload())

    assert time.monotonic() - started < 0.9


@pytest.mark.anyio
async def test_open_circuit_answers_without_calling(healthy_fraud_stub):
    healthy_fraud_stub.mode = "error500"

    async with _client(healthy_fraud_stub.url, threshold=2) as client:
        for _ in range(2):
            with pytest.raises(FraudServiceUnavailable, match="http_500"):
                await client.apredict(_payload())
        with pytest.raises(FraudServiceUnavailable, match="circuit open"):
            await client.apredict(_payload())

    assert len(healthy_fraud_stub.calls("/predict")) == 4  # two calls of two tries each, then none


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["4xx", "garbage body", "wrong schema", "another transaction's id"])
async def test_an_answer_about_the_request_never_counts_against_the_breaker(fault, healthy_fraud_stub):
    healthy_fraud_stub.mode = {"4xx": "reject", "garbage body": "garbage", "wrong schema": "wrong_shape",
                               "another transaction's id": "wrong_id"}[fault]

    async with _client(healthy_fraud_stub.url, threshold=2) as client:
        for _ in range(5):
            with pytest.raises(FraudServiceUnavailable):
                await client.apredict(_payload())
        assert client.breaker.state == "closed"
        healthy_fraud_stub.mode = "model"
        assert (await client.apredict(_payload())).decision == "APPROVED"


@pytest.mark.anyio
async def test_worker_threads_call_through_the_loops_session_with_their_request_id(healthy_fraud_stub):
    payload = _payload()

    def in_worker_thread():
        request_id.set("from-a-thread")
        client.send_feedback({**payload, "is_fraud": True})

    async with _client(healthy_fraud_stub.url) as client:
        await asyncio.to_thread(in_worker_thread)

    [(headers, sent)] = healthy_fraud_stub.calls("/feedback")
    assert headers["X-Request-ID"] == "from-a-thread" and sent == {**payload, "is_fraud": True}


@pytest.mark.anyio
async def test_a_blocking_call_on_the_loop_thread_is_refused_instead_of_hanging(healthy_fraud_stub):
    async with _client(healthy_fraud_stub.url) as client:
        with pytest.raises(RuntimeError, match="worker threads"):
            client.send_feedback({**_payload(), "is_fraud": True})

    assert healthy_fraud_stub.calls("/feedback") == []


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


def test_a_probe_answered_with_a_4xx_frees_the_probe_slot_without_closing_the_circuit():
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=lambda: clock[0])
    breaker.record_failure()
    clock[0] = 10
    assert breaker.allow()

    breaker.record_answer()

    assert breaker.state == "half-open"
    assert breaker.allow()  # the next call may probe; the slot was not left taken
