"""Bad input: a clear 4xx naming the field, and no row written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fastapi_plumbing.testing import assert_problem

VALID = {"amount": "10.00", "currency": "EUR", "terminal_id": "T-1"}

BAD_BODIES = [
    ({"amount": -5}, "amount"),
    ({"amount": 0}, "amount"),
    ({"amount": "NaN"}, "amount"),
    ({"amount": "Infinity"}, "amount"),
    ({"amount": "ten"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": "10.001"}, "amount"),
    ({"amount": 1_000_000.01}, "amount"),
    ({"amount": 1e30}, "amount"),
    ({"amount": None}, "amount"),
    ({"currency": "XXY"}, "currency"),
    ({"currency": "EURO"}, "currency"),
    ({"currency": 978}, "currency"),
    ({"terminal_id": ""}, "terminal_id"),
    ({"terminal_id": "   "}, "terminal_id"),
    ({"terminal_id": "T" * 65}, "terminal_id"),
    ({"terminal_id": "T 1\n"}, "terminal_id"),
    ({"terminal_id": ["T-1"]}, "terminal_id"),
    # Look-alikes: a bidi override, a zero-width space, full-width letters, a non-breaking space.
    ({"terminal_id": "T-1\u202e2"}, "terminal_id"),
    ({"terminal_id": "T\u200b-1"}, "terminal_id"),
    ({"terminal_id": "\uff34-1"}, "terminal_id"),
    ({"terminal_id": "T\u00a01"}, "terminal_id"),
    ({"customer_id": "61\u200d"}, "customer_id"),
    # Amounts: only ASCII digits and one point ("١٢" and "1_000" were 12 and 1000).
    ({"amount": "\u0661\u0662"}, "amount"),
    ({"amount": "1_000"}, "amount"),
    ({"amount": " 12"}, "amount"),
    ({"amount": "+12"}, "amount"),
    ({"amount": "1e3"}, "amount"),
    ({"amount": "12."}, "amount"),
]


@pytest.mark.parametrize(("change", "field"), BAD_BODIES, ids=[f"{field}={change[field]!a}"[:40]
                                                              for change, field in BAD_BODIES])
def test_invalid_field_is_422_naming_it_and_writes_nothing(change, field, api, count_rows):
    before = count_rows()

    response = api.post("/transactions", user=61, json={**VALID, **change})

    assert response.status_code == 422
    body = response.json()
    assert [error["field"] for error in body["errors"]] == [field]
    assert field in body["detail"]
    assert count_rows() == before


@pytest.mark.parametrize("missing", ["amount", "currency", "terminal_id"])
def test_missing_field_is_422_naming_it(missing, api, count_rows):
    before = count_rows()
    body = {key: value for key, value in VALID.items() if key != missing}

    response = api.post("/transactions", user=61, json=body)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == missing
    assert count_rows() == before


@pytest.mark.parametrize("raw", [b'{"amount": 10, "currency": "EUR",', b"amount=10", b'{"amount": 10}}'])
def test_malformed_json_is_400(raw, api, count_rows):
    before = count_rows()

    response = api.post("/transactions", user=61, content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert response.json()["errors"][0]["field"] == "body"
    assert count_rows() == before


def test_body_that_is_not_an_object_is_422(api):
    response = api.post("/transactions", user=61, json=[VALID])

    assert response.status_code == 422


def test_oversized_body_is_413(api, count_rows):
    before = count_rows()

    response = api.post("/transactions", user=61, json={**VALID, "padding": "x" * 20_000})

    assert_problem(response, 413, "body_too_large", "/transactions")
    assert count_rows() == before


def test_oversized_chunked_body_without_length_is_413(api):
    def chunks():
        yield b'{"amount": 1, "currency": "EUR", "terminal_id": "T", "padding": "'
        for _ in range(40):
            yield b"x" * 1000
        yield b'"}'

    response = api.post("/transactions", user=61, content=chunks(), headers={"Content-Type": "application/json"})

    assert_problem(response, 413, "body_too_large", "/transactions")


@pytest.mark.parametrize("path", ["/transactions/not-a-uuid", "/transactions/123"])
def test_non_uuid_id_is_422(path, api):
    response = api.get(path, user=61)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "transaction_id"


def test_non_uuid_id_on_label_is_422(api):
    response = api.post("/transactions/nope/label", user=1, staff=True, json={"is_fraud": True})

    assert response.status_code == 422


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_label_must_be_a_boolean(value, api):
    created = api.create(user=62).json()

    response = api.post(f"/transactions/{created['id']}/label", user=1, staff=True, json={"is_fraud": value})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "is_fraud"


def test_idempotency_key_longer_than_255_is_422(api, count_rows):
    before = count_rows()

    response = api.post("/transactions", user=61, json=VALID, headers={"Idempotency-Key": "k" * 256})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert count_rows() == before


@pytest.mark.parametrize("query", ["page_size=101", "page_size=0", "page=0", "status=MAYBE"])
def test_listing_parameters_are_bounded(query, api):
    response = api.get(f"/transactions?{query}", user=61)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == query.split("=")[0]


def test_timestamp_must_be_a_date(api):
    response = api.post("/transactions", user=1, staff=True, json={**VALID, "timestamp": "yesterday"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "timestamp"


@pytest.mark.parametrize("when", ["1990-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "future"])
def test_staff_timestamp_outside_what_the_fraud_service_accepts_is_422(when, api, count_rows, healthy_fraud_stub):
    # Before: stored, then refused by the fraud service and decided by the fallback.
    if when == "future":
        when = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    before = count_rows()

    response = api.post("/transactions", user=1, staff=True, json={**VALID, "customer_id": "c-9", "timestamp": when})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "timestamp"
    assert "2000-01-01" in response.json()["errors"][0]["message"]
    assert count_rows() == before
    assert healthy_fraud_stub.calls("/predict") == []


def test_staff_timestamp_within_bounds_is_accepted(api):
    tomorrow = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    for when in ("2000-01-01T00:00:00Z", tomorrow):
        response = api.post("/transactions", user=1, staff=True,
                            json={**VALID, "customer_id": "c-9", "timestamp": when})
        assert response.status_code == 201, response.text


def test_listing_refuses_a_look_alike_customer_id(api):
    response = api.get("/transactions?customer_id=61%E2%80%AE", user=1, staff=True)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "customer_id"
