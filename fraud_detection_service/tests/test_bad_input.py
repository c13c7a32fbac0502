"""Bad requests get a 4xx naming the field, and leave the profile store exactly as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi_plumbing.testing import assert_problem
from sqlalchemy import func, select

from app.db.tables import customer_days, terminal_days, transactions
from tests.helpers import DAY0, new_id, transaction

GOOD = transaction("cust-bad-input", "term-bad-input", 12.5, DAY0 + timedelta(hours=9))


def _store_snapshot(engine):
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (transactions, customer_days, terminal_days))


def _without(field):
    return {k: v for k, v in GOOD.items() if k != field}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without("amount"), "amount"),
        (_without("transaction_id"), "transaction_id"),
        (_without("timestamp"), "timestamp"),
        ({**GOOD, "amount": 0}, "amount"),
        ({**GOOD, "amount": -5}, "amount"),
        ({**GOOD, "amount": "NaN"}, "amount"),
        ({**GOOD, "amount": "Infinity"}, "amount"),
        ({**GOOD, "amount": 1e12}, "amount"),
        ({**GOOD, "amount": "twelve"}, "amount"),
        ({**GOOD, "timestamp": "1970-01-01T00:00:00"}, "timestamp"),
        ({**GOOD, "timestamp": (datetime.now(UTC) + timedelta(days=30)).isoformat()}, "timestamp"),
        ({**GOOD, "timestamp": "yesterday"}, "timestamp"),
        ({**GOOD, "customer_id": ""}, "customer_id"),
        ({**GOOD, "terminal_id": "x" * 500}, "terminal_id"),
        ({**GOOD, "features": [1, 2, 3]}, "features"),  # callers send raw fields, never features
        # Look-alike identifiers: a bidi override, zero-width characters, full-width letters.
        ({**GOOD, "terminal_id": "term\u202e1"}, "terminal_id"),
        ({**GOOD, "customer_id": "cust\u200b1"}, "customer_id"),
        ({**GOOD, "customer_id": "\uff43ust"}, "customer_id"),
        ({**GOOD, "transaction_id": "tx\u2060"}, "transaction_id"),
        # Amounts: "١٢" and "1_000" were 12 and 1000; true was 1.
        ({**GOOD, "amount": "\u0661\u0662"}, "amount"),
        ({**GOOD, "amount": "1_000"}, "amount"),
        ({**GOOD, "amount": True}, "amount"),
        ({**GOOD, "amount": " 12"}, "amount"),
    ],
)
def test_invalid_transaction_is_422_naming_the_field(client, service_db, body, field):
    before = _store_snapshot(service_db)
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]
    assert _store_snapshot(service_db) == before


def test_nan_literal_in_json_is_refused(client, service_db):
    before = _store_snapshot(service_db)
    raw = '{"transaction_id": "t-nan", "customer_id": "c", "terminal_id": "t", "amount": NaN, ' \
          '"timestamp": "2026-06-01T10:00:00"}'
    response = client.post("/predict", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "amount"
    assert _store_snapshot(service_db) == before


def test_malformed_json_is_400(client):
    response = client.post("/predict", content=b'{"transaction_id": "x",', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert response.json()["errors"][0]["field"] == "body"
    assert "malformed JSON" in response.json()["errors"][0]["message"]


def test_one_bad_item_rejects_the_whole_batch(client, service_db):
    before = _store_snapshot(service_db)
    items = [transaction(new_id("c"), "t", 10.0, DAY0 + timedelta(hours=9)) for _ in range(3)]
    items[2]["amount"] = -1
    response = client.post("/predict/batch", json={"transactions": items})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "transactions.2.amount"
    assert _store_snapshot(service_db) == before


def test_batch_above_the_limit_and_empty_batch_are_refused(client):
    item = transaction("c", "t", 10.0, DAY0 + timedelta(hours=9))
    huge = client.post("/predict/batch", json={"transactions": [item] * 1001})
    empty = client.post("/predict/batch", json={"transactions": []})
    assert huge.status_code == empty.status_code == 422
    assert huge.json()["errors"][0]["field"] == empty.json()["errors"][0]["field"] == "transactions"


def test_oversized_body_is_413(client, service_db):
    before = _store_snapshot(service_db)
    padded = {**GOOD, "transaction_id": new_id("big"), "note": "x" * 2_000_000}
    response = client.post("/predict", json=padded)
    assert_problem(response, 413, "body_too_large", "/predict")

    def chunks():  # no Content-Length: the limit must hold while streaming too
        yield b'{"transaction_id": "' + b"y" * 1_500_000
        yield b'"}'

    streamed = client.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.json() == response.json()  # one 413 path, whether declared or streamed
    assert _store_snapshot(service_db) == before


def test_feedback_needs_all_transaction_fields_or_none(client):
    response = client.post("/feedback", json={"transaction_id": new_id("tx"), "is_fraud": True, "amount": 5.0})
    assert response.status_code == 422
    assert "customer_id" in response.json()["errors"][0]["message"]
    not_bool = client.post("/feedback", json={"transaction_id": new_id("tx"), "is_fraud": "maybe"})
    assert not_bool.status_code == 422 and not_bool.json()["errors"][0]["field"] == "is_fraud"


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/feedback"])
@pytest.mark.parametrize("token", [None, "wrong-token-of-a-plausible-length"])
def test_internal_endpoints_refuse_missing_or_wrong_token(service, service_db, path, token):
    before = _store_snapshot(service_db)
    body = {"/predict": GOOD, "/predict/batch": {"transactions": [GOOD]},
            "/feedback": {**GOOD, "is_fraud": True}}[path]
    headers = {"X-Internal-Token": token} if token else {}
    response = httpx.post(service.url + path, json=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == ("invalid_internal_token" if token else "missing_internal_token")
    assert _store_snapshot(service_db) == before
