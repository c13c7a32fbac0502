"""Dynamic batching of the fraud calls (app/clients/fraud_batches.py): captures that arrive while calls are in
flight are scored together through /predict/batch, each with its own row's decision; a lone capture still
goes alone through /predict; a failed batch fails each of its captures as a failed call does, a refused one
is resent one transaction at a time, a bad row fails only its own capture; FRAUD_BATCHING=off is one call
per capture. Against the stub fraud service on a real socket: the running service, or the batcher in-process
where a test needs to know exactly which transactions queue."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from app.clients.circuit_breaker import CircuitBreaker
from app.clients.fraud import FraudClient, FraudDecision, FraudRequestRefused, FraudServiceUnavailable
from app.clients.fraud_batches import FraudBatches

from tests.conftest import INTERNAL_TOKEN
from tests.support.api import Api
from tests.support.stubs import FraudStub, prediction

AMOUNTS = ["20.00", "450.00", "900.00"] * 4  # approved, approved in the review band, blocked


def _capture_all(api: Api, amounts: list[str], user: int) -> list[dict]:
    with ThreadPoolExecutor(max_workers=len(amounts)) as pool:
        responses = list(pool.map(lambda amount: api.create(amount, user=user), amounts))
    assert all(response.status_code == 201 for response in responses), [r.text for r in responses]
    return [response.json() for response in responses]


def _batched_ids(stub: FraudStub) -> set[str]:
    return {txn["transaction_id"] for _, body in stub.calls("/predict/batch") for txn in body["transactions"]}


@pytest.fixture
def batching_api(start_app, signing_key) -> Api:
    """The service batching (FRAUD_BATCHING=on) from two queued captures on (FRAUD_BATCH_MIN), so a few
    concurrent captures are enough to make a batch."""
    return Api(start_app(FRAUD_BATCHING="on", FRAUD_BATCH_MIN="2").url, signing_key)


def test_concurrent_captures_share_fraud_calls_each_with_its_own_row(batching_api, healthy_fraud_stub):
    api = batching_api
    healthy_fraud_stub.delay = 0.3  # the first calls are still in flight when the others arrive

    captured = _capture_all(api, AMOUNTS, user=61)

    ids = {body["id"] for body in captured}  # (the stub may also see other tests' rows being rescued)
    calls = [body for path in ("/predict", "/predict/batch") for _, body in healthy_fraud_stub.calls(path)
             if ids & {txn["transaction_id"] for txn in body.get("transactions", [body])}]
    assert len(calls) < len(captured) and ids & _batched_ids(healthy_fraud_stub)
    assert sorted(txn for txn in healthy_fraud_stub.scored() if txn in ids) == sorted(ids)  # each scored once
    for amount, body in zip(AMOUNTS, captured, strict=True):
        decision = "BLOCKED" if float(amount) > FraudStub.BLOCK_ABOVE else "APPROVED"
        expected = prediction({"transaction_id": body["id"], "amount": float(amount)}, decision, 0)
        staff = api.staff_view(body["id"])
        assert body["status"] == expected["decision"] and staff["decided_by"] == "model"
        assert staff["reasons"] == expected["reasons"]
        assert [c["value"] for c in staff["contributions"] if c["feature"] == "tx_amount"] == [float(amount)]
    metrics = api.get("/metrics", user=None).text
    assert "transaction_fraud_call_transactions_count" in metrics


def test_a_lone_capture_on_a_quiet_service_goes_alone_through_predict(batching_api, healthy_fraud_stub):
    api = batching_api
    body = api.create("20.00", user=62).json()

    assert [sent["transaction_id"] for _, sent in healthy_fraud_stub.calls("/predict")
            if sent["transaction_id"] == body["id"]] == [body["id"]]
    assert body["id"] not in _batched_ids(healthy_fraud_stub)


def test_a_batch_answered_5xx_leaves_each_of_its_captures_to_the_fallback(batching_api, healthy_fraud_stub):
    api = batching_api
    healthy_fraud_stub.delay = 0.3
    healthy_fraud_stub.batch_status = 503

    captured = _capture_all(api, ["20.00"] * 8, user=63)

    batched = _batched_ids(healthy_fraud_stub)
    assert batched  # some captures queued behind the first calls
    for body in captured:
        expected = "fallback" if body["id"] in batched else "model"
        assert api.staff_view(body["id"])["decided_by"] == expected
        assert body["status"] == ("BLOCKED" if body["id"] in batched else "APPROVED")  # policy: block


def test_with_batching_off_each_capture_is_its_own_call(start_app, signing_key, healthy_fraud_stub):
    api = Api(start_app(FRAUD_BATCHING="off").url, signing_key)
    healthy_fraud_stub.delay = 0.3

    captured = _capture_all(api, ["20.00"] * 6, user=64)

    ids = {body["id"] for body in captured}
    alone = [sent["transaction_id"] for _, sent in healthy_fraud_stub.calls("/predict")]
    assert sorted(txn for txn in alone if txn in ids) == sorted(ids)
    assert not ids & _batched_ids(healthy_fraud_stub)


# In-process: with the calls started together, the first two take the slots and the rest queue, in order.

class CountingBreaker(CircuitBreaker):
    def __init__(self) -> None:
        super().__init__(1000, reset_seconds=30)
        self.failures = 0

    def record_failure(self) -> None:
        self.failures += 1
        super().record_failure()


@contextlib.asynccontextmanager
async def _batches(url: str, **options) -> AsyncIterator[FraudBatches]:
    client = FraudClient(url, INTERNAL_TOKEN, connect_timeout=0.2, read_timeout=0.4, deadline=1.0,
                         retry_backoff=0.05, breaker=CountingBreaker())
    try:
        yield FraudBatches(client, in_flight=2, max_batch=options.get("max_batch", 50),
                           min_batch=options.get("min_batch", 2))
    finally:
        await client.aclose()


def _payload(amount: float = 20.0) -> dict:
    return {"transaction_id": str(uuid.uuid4()), "customer_id": "1", "terminal_id": "T", "amount": amount,
            "timestamp": "2026-01-01T00:00:00+00:00"}


async def _score_all(batches: FraudBatches, payloads: list[dict]) -> list[FraudDecision | BaseException]:
    return await asyncio.gather(*(batches.apredict(payload) for payload in payloads), return_exceptions=True)


def _only_failed(payloads: list[dict], answers: list, failing_id: str) -> BaseException:
    """Every transaction but ``failing_id`` got its own row's decision; returns what ``failing_id`` got."""
    for payload, answer in zip(payloads, answers, strict=True):
        if payload["transaction_id"] != failing_id:
            assert isinstance(answer, FraudDecision) and answer.transaction_id == payload["transaction_id"]
            assert answer.contributions[0]["value"] == payload["amount"]
    return answers[[p["transaction_id"] for p in payloads].index(failing_id)]


def _breaker(batches: FraudBatches) -> CountingBreaker:
    return batches._client.breaker  # type: ignore[return-value]


@pytest.mark.anyio
async def test_queued_transactions_go_in_one_batch_call_capped_at_the_batch_size(healthy_fraud_stub):
    payloads = [_payload(float(n)) for n in range(1, 10)]
    async with _batches(healthy_fraud_stub.url, max_batch=4) as batches:
        answers = await _score_all(batches, payloads)

    assert [answer.transaction_id for answer in answers] == [p["transaction_id"] for p in payloads]
    # Each batch in order of arrival; the two batches go out on two slots at once, so reach the stub in either order.
    sent = [[t["amount"] for t in body["transactions"]] for _, body in healthy_fraud_stub.calls("/predict/batch")]
    assert sorted(sent) == [[3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    assert (batches.calls, batches.transactions) == (4, 9)


@pytest.mark.anyio
async def test_a_queue_shorter_than_the_minimum_batch_is_sent_one_at_a_time(healthy_fraud_stub):
    payloads = [_payload(float(n)) for n in range(1, 8)]
    async with _batches(healthy_fraud_stub.url, min_batch=8) as batches:
        answers = await _score_all(batches, payloads)

    assert [answer.transaction_id for answer in answers] == [p["transaction_id"] for p in payloads]
    assert healthy_fraud_stub.calls("/predict/batch") == []
    # Two slots: two calls at a time, the oldest queued first.
    assert sorted(body["amount"] for _, body in healthy_fraud_stub.calls("/predict")) == [float(n) for n in range(1, 8)]


FAILURES = {
    "timeout": (lambda stub: setattr(stub, "batch_delay", 1.0), "timeout"),
    "5xx": (lambda stub: setattr(stub, "batch_status", 500), "http_500"),
    "refused": (lambda stub: stub.stop(), "unreachable"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("failure", FAILURES)
async def test_a_failed_batch_call_fails_each_of_its_transactions_counted_once(failure, healthy_fraud_stub):
    make_it_fail, reason = FAILURES[failure]
    make_it_fail(healthy_fraud_stub)
    payloads = [_payload() for _ in range(6)]
    async with _batches(healthy_fraud_stub.url) as batches:
        answers = await _score_all(batches, payloads)

    alone, batched = answers[:2], answers[2:]
    assert all(isinstance(answer, FraudServiceUnavailable) and answer.reason.startswith(reason)
               for answer in batched)
    failed_calls = 1 + (2 if failure == "refused" else 0)  # the batch (and the lone calls, refused too)
    assert _breaker(batches).failures == failed_calls
    if failure != "refused":
        assert all(isinstance(answer, FraudDecision) for answer in alone)


@pytest.mark.anyio
async def test_a_batch_refused_409_is_resent_one_at_a_time_and_only_the_offender_fails(healthy_fraud_stub):
    payloads = [_payload() for _ in range(6)]
    offender = payloads[3]["transaction_id"]
    healthy_fraud_stub.conflicts = {offender}
    async with _batches(healthy_fraud_stub.url) as batches:
        answers = await _score_all(batches, payloads)

    failed = _only_failed(payloads, answers, offender)
    assert isinstance(failed, FraudRequestRefused) and failed.status == 409
    assert len(healthy_fraud_stub.calls("/predict/batch")) == 1
    alone = {p["transaction_id"] for p in payloads[:2]}
    resent = [body["transaction_id"] for _, body in healthy_fraud_stub.calls("/predict")
              if body["transaction_id"] not in alone]
    assert resent == [p["transaction_id"] for p in payloads[2:]]  # in order
    assert _breaker(batches).failures == 0


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["missing", "wrong_id", "malformed"])
async def test_a_bad_row_in_a_batch_answer_fails_only_its_transaction(fault, healthy_fraud_stub):
    payloads = [_payload(float(n)) for n in range(1, 7)]
    bad = payloads[4]["transaction_id"]
    healthy_fraud_stub.bad_rows = {bad: fault}
    async with _batches(healthy_fraud_stub.url) as batches:
        answers = await _score_all(batches, payloads)

    assert len(healthy_fraud_stub.calls("/predict/batch")) == 1
    failed = _only_failed(payloads, answers, bad)
    assert isinstance(failed, FraudServiceUnavailable) and failed.reason.startswith("malformed answer")
    assert _breaker(batches).failures == 0
