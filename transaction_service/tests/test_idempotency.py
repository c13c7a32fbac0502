"""Idempotency-Key: replay, conflicting body, concurrent duplicates, per-user scope, expiry."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from app.models import IdempotencyKey, Transaction
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.support.api import Api

BODY = {"amount": "25.00", "currency": "EUR", "terminal_id": "T-7"}


def _rows_for(engine, customer_id: str) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).where(Transaction.customer_id == customer_id))


def test_retry_with_same_key_and_body_returns_the_original_without_a_second_row(api, engine, healthy_fraud_stub):
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    first = api.post("/transactions", user=71, json=BODY, headers=key)
    # The same body written differently (number instead of string, lower-case currency) is the same request.
    again = api.post("/transactions", user=71, headers=key,
                     json={"amount": 25, "currency": "eur", "terminal_id": "T-7"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _rows_for(engine, "71") == 1
    assert len(healthy_fraud_stub.calls("/predict")) == 1  # scored once


def test_same_key_with_a_different_body_is_422_and_writes_nothing(api, engine):
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    api.post("/transactions", user=72, json=BODY, headers=key)

    response = api.post("/transactions", user=72, json={**BODY, "amount": "26.00"}, headers=key)

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert _rows_for(engine, "72") == 1


def test_keys_are_scoped_per_user(api, engine):
    key = {"Idempotency-Key": "shared-key-name"}

    first = api.post("/transactions", user=73, json=BODY, headers=key).json()
    second = api.post("/transactions", user=74, json=BODY, headers=key).json()

    assert first["id"] != second["id"]
    assert (first["customer_id"], second["customer_id"]) == ("73", "74")


def test_concurrent_duplicates_make_one_row_and_the_others_are_told_409(api, engine, healthy_fraud_stub):
    healthy_fraud_stub.delay = 0.6  # the first request is still in flight while the others arrive
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    token = api.token(75)

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda _: api.post("/transactions", token=token, json=BODY, headers=key),
                                  range(5)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert statuses.count(409) >= 1
    created = {response.json()["id"] for response in responses if response.status_code == 201}
    assert len(created) == 1
    assert _rows_for(engine, "75") == 1
    conflict = next(response for response in responses if response.status_code == 409)
    assert conflict.headers["Retry-After"] == "1"
    # Once the first finishes, a retry gets its answer.
    healthy_fraud_stub.delay = 0
    assert api.post("/transactions", token=token, json=BODY, headers=key).json()["id"] in created


def test_an_expired_key_can_be_used_again(start_app, signing_key, engine):
    api = Api(start_app(IDEMPOTENCY_TTL_HOURS="0.0003").url, signing_key)  # about one second
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    first = api.post("/transactions", user=76, json=BODY, headers=key).json()

    time.sleep(1.3)
    second = api.post("/transactions", user=76, json={**BODY, "amount": "30.00"}, headers=key)

    assert second.status_code == 201
    assert second.json()["id"] != first["id"]
    with Session(engine) as session:
        keys = session.scalars(select(IdempotencyKey).where(IdempotencyKey.user_id == "76")).all()
    assert [str(stored.transaction_id) for stored in keys] == [second.json()["id"]]
