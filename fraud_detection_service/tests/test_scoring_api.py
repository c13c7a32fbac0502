"""Scoring over HTTP against the running service: decisions, idempotency, feedback, operations."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from fastapi_plumbing.testing import eventually
from sqlalchemy import func, select

from app.db.tables import customer_days, transactions
from app.schemas import BatchOut
from tests.helpers import DAY0, daily_habit, new_id, transaction


def _batch(client, items):
    response = client.post("/predict/batch", json={"transactions": items})
    assert response.status_code == 200, response.text
    # The route writes its JSON itself (app/api/routes/predict.py): it must still be what OpenAPI promises.
    assert response.headers["content-type"] == "application/json"
    BatchOut.model_validate_json(response.content)
    return response.json()["results"]


def test_normal_payment_is_approved_and_unusual_one_blocked_with_reasons(client):
    customer, terminal = new_id("cust"), new_id("term")
    _batch(client, daily_habit(customer, terminal, days=14, amount=40.0))
    day = DAY0 + timedelta(days=14)

    normal = client.post("/predict", json=transaction(customer, terminal, 41.0, day + timedelta(hours=11)))
    fraud = client.post("/predict", json=transaction(customer, terminal, 2400.0, day + timedelta(hours=3)))

    assert normal.status_code == fraud.status_code == 200
    normal, fraud = normal.json(), fraud.json()
    assert normal["decision"] == "APPROVED" and normal["risk_score"] < 0.5
    assert fraud["decision"] == "BLOCKED" and fraud["risk_score"] >= 0.5
    assert fraud["anomaly_score"] >= fraud["threshold"] > normal["anomaly_score"]
    assert any("× this customer's" in reason for reason in fraud["reasons"]), fraud["reasons"]
    assert normal["model_version"] == fraud["model_version"]


def test_batch_answers_in_order_and_later_items_see_earlier_ones(client):
    customer, terminal = new_id("cust"), new_id("term")
    items = daily_habit(customer, terminal, days=3, amount=25.0)
    results = _batch(client, items)
    assert [r["transaction_id"] for r in results] == [i["transaction_id"] for i in items]
    # Each item is scored with the batch's earlier items in its history: the same payments sent one by
    # one, in order, for a twin customer at a twin terminal get the same scores...
    twin, twin_terminal = new_id("cust"), new_id("term")
    one_by_one = [client.post("/predict", json={**item, "transaction_id": new_id("tx"), "customer_id": twin,
                                                "terminal_id": twin_terminal}).json() for item in items]
    assert [r["anomaly_score"] for r in results] == pytest.approx([r["anomaly_score"] for r in one_by_one],
                                                                  abs=1e-12)
    # ...and that history is visible: the ninth payment of the habit looks more ordinary than the first.
    assert results[-1]["anomaly_score"] < results[0]["anomaly_score"]


def test_retried_prediction_returns_the_first_answer_and_counts_once(client, service_db):
    customer, terminal = new_id("cust"), new_id("term")
    first_tx = transaction(customer, terminal, 30.0, DAY0 + timedelta(hours=12))
    first_response = client.post("/predict", json=first_tx)
    first = first_response.json()
    client.post("/predict", json=transaction(customer, terminal, 900.0, DAY0 + timedelta(hours=13)))

    again = client.post("/predict", json=first_tx)
    assert again.status_code == 200
    assert again.json() == first
    # The same bytes whichever handler answers: a plain application/json body takes /predict's lean path,
    # any other spelling of the media type FastAPI's own (app/api/routes/predict.py).
    spelled_otherwise = client.post("/predict", content=json.dumps(first_tx).encode(),
                                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert spelled_otherwise.content == again.content == first_response.content
    in_batch = _batch(client, [first_tx, first_tx])
    assert in_batch == [first, first]
    # /predict/batch too: its lean path (a plain application/json body) and FastAPI's answer the same bytes.
    lean = client.post("/predict/batch", json={"transactions": [first_tx]})
    standard = client.post("/predict/batch", content=json.dumps({"transactions": [first_tx]}).encode(),
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert standard.status_code == lean.status_code == 200
    assert standard.content == lean.content == b'{"results":[' + first_response.content + b"]}"
    with service_db.connect() as conn:
        recorded = conn.execute(select(func.count()).where(transactions.c.customer_id == customer)).scalar_one()
        day_count = conn.execute(
            select(customer_days.c.tx_count).where(customer_days.c.customer_id == customer)
        ).scalar_one()
    assert recorded == day_count == 2


def test_fraud_feedback_raises_the_terminal_risk_of_later_payments(client):
    terminal = new_id("term")
    old_day = DAY0 + timedelta(days=1)
    labelled_later = [transaction(new_id("cust"), terminal, 35.0, old_day + timedelta(hours=9 + i))
                      for i in range(8)]
    _batch(client, labelled_later)
    # Two fresh customers with identical payments: they differ only in what the terminal's labels say.
    when = old_day + timedelta(days=10, hours=12)  # labels of old_day are known after the 7-day delay
    before = client.post("/predict", json=transaction(new_id("cust"), terminal, 35.0, when)).json()

    for item in labelled_later[:4]:
        response = client.post("/feedback", json={"transaction_id": item["transaction_id"], "is_fraud": True})
        assert response.status_code == 200, response.text
        assert response.json() == {"transaction_id": item["transaction_id"], "is_fraud": True,
                                   "recorded_transaction": False}
    after = client.post("/predict", json=transaction(new_id("cust"), terminal, 35.0, when)).json()

    assert after["anomaly_score"] > before["anomaly_score"]
    assert after["risk_score"] > before["risk_score"]
    # What moved the score is the terminal's fraud rate (its reasons stay neutral while it is approved well
    # under the threshold).
    assert after["contributions"][0]["feature"].startswith("terminal_fraud_rate_"), after["contributions"]
    assert not before["contributions"][0]["feature"].startswith("terminal_fraud_rate_"), before["contributions"]


def test_feedback_with_transaction_fields_records_an_unscored_transaction(client, service_db):
    fallback_tx = transaction(new_id("cust"), new_id("term"), 80.0, DAY0 + timedelta(hours=15))
    response = client.post("/feedback", json={**fallback_tx, "is_fraud": False})
    assert response.status_code == 200
    assert response.json()["recorded_transaction"] is True
    repeated = client.post("/feedback", json={**fallback_tx, "is_fraud": True})
    assert repeated.json()["recorded_transaction"] is False
    with service_db.connect() as conn:
        row = conn.execute(select(transactions).where(
            transactions.c.transaction_id == fallback_tx["transaction_id"])).one()
    assert (row.is_fraud, row.decision) == (True, None)
    # It was never scored: predicting it now would count it in its own history.
    conflict = client.post("/predict", json=fallback_tx)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "recorded_without_decision"
    assert fallback_tx["transaction_id"] in conflict.json()["detail"]


def test_feedback_for_an_unknown_transaction_is_404_and_records_nothing(client, service_db):
    unknown = new_id("tx")
    response = client.post("/feedback", json={"transaction_id": unknown, "is_fraud": True})
    assert response.status_code == 404
    assert response.json()["code"] == "transaction_not_found" and unknown in response.json()["detail"]
    with service_db.connect() as conn:
        assert conn.execute(select(func.count()).where(transactions.c.transaction_id == unknown)).scalar_one() == 0


def test_model_endpoint_describes_the_loaded_artifacts(client, model_dir):
    body = client.get("/model").json()
    metadata = (model_dir / "model_metadata.json").read_text()
    assert body["model_version"] in metadata
    assert [f["name"] for f in body["features"]] == json.loads(metadata)["feature_columns"]
    assert all(f["description"] for f in body["features"])
    assert body["metrics"]["evaluation"]["roc_auc"] > 0.5
    assert body["library_versions"]["scikit-learn"]


def test_model_endpoint_requires_the_internal_token(service):
    # Threshold and calibration tell a prober how to stay under the line.
    for headers in ({}, {"X-Internal-Token": "guess"}):
        response = httpx.get(f"{service.url}/model", headers=headers, timeout=10)
        assert response.status_code == 401
        assert "threshold" not in response.text


def test_request_id_is_echoed_and_metrics_count_decisions(client):
    response = client.post("/predict", headers={"X-Request-ID": "req-abc.123"},
                           json=transaction(new_id("cust"), new_id("term"), 20.0, DAY0 + timedelta(hours=10)))
    assert response.headers["x-request-id"] == "req-abc.123"
    assert len(client.get("/health").headers["x-request-id"]) == 32  # generated when not given
    metrics = client.get("/metrics").text
    assert 'fraud_decisions_total{decision="APPROVED"}' in metrics
    assert 'fraud_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/predict"}' in metrics
    assert "fraud_model_info{" in metrics


def test_log_lines_are_json_with_the_request_id(client, service):
    client.get("/health", headers={"X-Request-ID": "trace-me-42"})
    # The line is written once the answer has gone out, so the client can read the log before it is there.
    lines = eventually(lambda: [line for line in service.log().splitlines() if "trace-me-42" in line])
    assert json.loads(lines[-1])["request_id"] == "trace-me-42"


def test_probes(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
