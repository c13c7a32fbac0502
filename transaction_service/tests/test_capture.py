"""The full capture flow against the running service and a stub fraud service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.models import Transaction
from app.schemas import BLOCKED_MESSAGE
from sqlalchemy import select

CUSTOMER_FIELDS = {"id", "customer_id", "terminal_id", "amount", "currency", "timestamp", "status", "created_at",
                   "message"}
STAFF_FIELDS = CUSTOMER_FIELDS | {"risk_score", "reasons", "model_version", "decided_by", "contributions"}


def test_small_payment_is_approved_by_the_model_and_stored(api, engine, healthy_fraud_stub):
    response = api.create("42.50", user=7, headers={"X-Request-ID": "req-approve-1"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == CUSTOMER_FIELDS
    assert body["status"] == "APPROVED" and body["message"] is None
    assert body["customer_id"] == "7"
    assert body["amount"] == "42.50"
    staff = api.staff_view(body["id"])
    assert set(staff) == STAFF_FIELDS
    assert staff["decided_by"] == "model"
    assert staff["risk_score"] == 0.07
    assert staff["model_version"] == "test-model-1"
    assert uuid.UUID(body["id"]).version == 4 and str(uuid.UUID(body["id"])) == body["id"]
    assert response.headers["Location"] == f"/transactions/{body['id']}"
    with engine.connect() as connection:
        row = connection.execute(select(Transaction).where(Transaction.id == uuid.UUID(body["id"]))).one()
    assert row.status == "APPROVED" and row.amount == Decimal("42.50")
    # The fraud service got the wire format, the internal token and our request id.
    headers, sent = healthy_fraud_stub.calls("/predict")[-1]
    assert headers["X-Internal-Token"] == "test-internal-token"
    assert headers["X-Request-ID"] == "req-approve-1"
    assert {key: value for key, value in sent.items() if key != "timestamp"} == {
        "transaction_id": body["id"], "customer_id": "7", "terminal_id": "T-100", "amount": 42.5, "currency": "EUR"}
    # The moment of capture, with its UTC offset, as the customer's answer states it.
    assert datetime.fromisoformat(sent["timestamp"]) == datetime.fromisoformat(body["timestamp"])
    assert datetime.fromisoformat(sent["timestamp"]).utcoffset() == timedelta(0)


def test_large_payment_is_blocked_with_the_model_reasons(api, engine):
    body = api.create("9000", user=7).json()
    staff = api.staff_view(body["id"])

    assert body["status"] == "BLOCKED"
    assert body["amount"] == "9000.00"
    assert staff["decided_by"] == "model"
    assert staff["reasons"] == ["amount far above customer average"]
    # The contributions behind the decision are kept exactly as the fraud service answered them.
    with engine.connect() as connection:
        stored = connection.execute(
            select(Transaction.contributions, Transaction.model_version).where(Transaction.id == uuid.UUID(body["id"]))
        ).one()
    assert stored.contributions == [{"feature": "tx_amount", "value": 9000.0, "contribution": 0.2},
                                    {"feature": "hour_of_day", "value": 14.0, "contribution": -0.01}]
    assert stored.model_version == "test-model-1"
    assert staff["contributions"] == stored.contributions  # staff read them back unchanged


def test_client_cannot_choose_its_own_decision(api):
    response = api.post("/transactions", user=7, json={
        "amount": 9000, "currency": "EUR", "terminal_id": "T-1",
        "status": "APPROVED", "risk_score": 0, "decided_by": "model", "id": str(uuid.uuid4())})

    assert response.status_code == 201
    assert response.json()["status"] == "BLOCKED"


def test_currency_is_normalised_and_amount_kept_exact(api):
    body = api.post("/transactions", user=3, json={"amount": 0.1, "currency": "usd", "terminal_id": "T-9"}).json()

    assert body["currency"] == "USD"
    assert body["amount"] == "0.10"


def test_staff_submits_a_historical_transaction_for_a_customer(api):
    response = api.post("/transactions", user=99, staff=True, json={
        "amount": "10.00", "currency": "EUR", "terminal_id": "T-5", "customer_id": "cust-123",
        "timestamp": "2024-03-01T10:00:00"})

    assert response.status_code == 201
    body = response.json()
    assert body["customer_id"] == "cust-123"
    # A timestamp without offset is UTC.
    assert datetime.fromisoformat(body["timestamp"]) == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_customer_cannot_submit_for_someone_else_or_back_date(api, count_rows):
    before = count_rows()
    for_other = api.post("/transactions", user=7, json={"amount": 1, "currency": "EUR", "terminal_id": "T",
                                                         "customer_id": "8"})
    back_dated = api.post("/transactions", user=7, json={"amount": 1, "currency": "EUR", "terminal_id": "T",
                                                         "timestamp": "2020-01-01T00:00:00Z"})

    assert for_other.status_code == 403 and "customer_id" in for_other.json()["detail"]
    assert back_dated.status_code == 403 and "timestamp" in back_dated.json()["detail"]
    assert count_rows() == before


def test_owner_reads_their_transaction_but_another_user_gets_404(api):
    created = api.create(user=21).json()

    own = api.get(f"/transactions/{created['id']}", user=21)
    other = api.get(f"/transactions/{created['id']}", user=22)
    staff = api.get(f"/transactions/{created['id']}", user=1000, staff=True)
    missing = api.get(f"/transactions/{uuid.uuid4()}", user=21)

    assert own.status_code == 200 and own.json() == created
    # Answered exactly as a missing one: only the echoed request path (`instance`) differs.
    assert other.status_code == missing.status_code == 404
    assert other.json().pop("instance") == f"/transactions/{created['id']}"
    assert {k: v for k, v in other.json().items() if k != "instance"} == \
        {k: v for k, v in missing.json().items() if k != "instance"}
    assert staff.status_code == 200


def test_listing_is_scoped_newest_first_paginated_and_filtered(api):
    user = 31
    ids = [api.create(amount, user=user).json()["id"] for amount in ("1", "600", "2", "700", "3")]
    api.create(user=32)

    first = api.get("/transactions?page_size=2", user=user).json()
    second = api.get("/transactions?page_size=2&page=2", user=user).json()
    blocked = api.get("/transactions?status=BLOCKED", user=user).json()

    assert first["total"] == 5
    assert [item["id"] for item in first["items"] + second["items"]] == ids[::-1][:4]
    assert {item["customer_id"] for item in first["items"]} == {str(user)}
    assert [item["id"] for item in blocked["items"]] == [ids[3], ids[1]]
    assert api.get("/transactions?customer_id=32", user=user).status_code == 403
    staff_view = api.get(f"/transactions?customer_id={user}&page_size=100", user=1, staff=True).json()
    assert staff_view["total"] == 5


def test_customers_see_the_decision_only_and_staff_see_how_it_was_taken(api):
    # Before: a customer read risk_score, reasons, model_version and decided_by on their own payment, enough
    # for a stolen account to probe for the largest amount that still passes.
    approved = api.create("12.00", user=23).json()
    blocked_response = api.create("9000", user=23, headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
    blocked = blocked_response.json()
    replayed = api.post("/transactions", user=23, headers={"Idempotency-Key": blocked_response.request.headers[
        "Idempotency-Key"]}, json={"amount": "9000", "currency": "EUR", "terminal_id": "T-100"}).json()
    read = api.get(f"/transactions/{blocked['id']}", user=23).json()
    listed = api.get("/transactions", user=23).json()["items"]

    for view in [approved, blocked, replayed, read, *listed]:
        assert set(view) == CUSTOMER_FIELDS
    assert approved["message"] is None
    assert blocked["status"] == "BLOCKED" and blocked["message"] == BLOCKED_MESSAGE == read["message"]
    assert replayed == blocked
    staff_read = api.staff_view(blocked["id"])
    staff_listed = api.get("/transactions?customer_id=23", user=1000, staff=True).json()["items"]
    staff_captured = api.post("/transactions", user=1000, staff=True, json={
        "amount": "9000", "currency": "EUR", "terminal_id": "T-100", "customer_id": "23"}).json()
    for view in [staff_read, *staff_listed, staff_captured]:
        assert set(view) == STAFF_FIELDS
    assert staff_read["reasons"] == ["amount far above customer average"] and staff_read["risk_score"] == 0.93
