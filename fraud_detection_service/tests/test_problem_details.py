"""Every error is RFC 9457 problem details (README, "Errors"), whatever produced it: a route, the
framework (unknown path, wrong method), validation, the body limit, or an unexpected failure."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi_plumbing.testing import assert_openapi_declares_problems, assert_problem, free_port

from app.db.engine import make_engine
from app.db.tables import metadata
from tests.helpers import DAY0, new_id, transaction
from tests.service_process import ServiceProcess, service_env

GOOD = transaction("cust-problems", "term-problems", 20.0, DAY0 + timedelta(hours=10))


def test_400_malformed_json(client):
    response = client.post("/predict", content=b'{"amount": 1,', headers={"Content-Type": "application/json"})
    body = assert_problem(response, 400, "malformed_json", "/predict")
    assert body["errors"][0]["field"] == "body"


def test_401_without_the_internal_token(service):
    response = httpx.post(f"{service.url}/feedback", json={"transaction_id": "x", "is_fraud": True}, timeout=10)
    body = assert_problem(response, 401, "missing_internal_token", "/feedback")
    assert "X-Internal-Token" in body["detail"]


def test_404_from_the_framework_and_from_a_route(client):
    assert_problem(client.get("/no/such/path"), 404, "not_found", "/no/such/path")
    unknown = new_id("tx")
    body = assert_problem(client.post("/feedback", json={"transaction_id": unknown, "is_fraud": True}),
                          404, "transaction_not_found", "/feedback")
    assert unknown in body["detail"]


def test_405_wrong_method(client):
    assert_problem(client.get("/predict"), 405, "method_not_allowed", "/predict")


def test_409_scoring_a_transaction_recorded_without_decision(client):
    tx = transaction(new_id("c"), "term-problems", 15.0, DAY0 + timedelta(hours=11))
    assert client.post("/feedback", json={**tx, "is_fraud": False}).status_code == 200
    assert_problem(client.post("/predict", json=tx), 409, "recorded_without_decision", "/predict")
    # In a batch it refuses the whole batch, naming the transaction.
    others = [transaction(new_id("c"), "term-problems", 16.0, DAY0 + timedelta(hours=12)) for _ in range(2)]
    body = assert_problem(client.post("/predict/batch", json={"transactions": [others[0], tx, others[1]]}),
                          409, "recorded_without_decision", "/predict/batch")
    assert tx["transaction_id"] in body["detail"]


def test_422_names_each_field(client):
    response = client.post("/predict", json={**GOOD, "amount": -1, "customer_id": ""})
    body = assert_problem(response, 422, "validation_error", "/predict")
    assert {e["field"] for e in body["errors"]} == {"amount", "customer_id"}
    assert all(set(e) == {"field", "message"} for e in body["errors"])
    assert "amount" in body["detail"] and "customer_id" in body["detail"]


def test_openapi_declares_problem_details_for_every_operation(client):
    assert_openapi_declares_problems(client.get("/openapi.json").json())


@pytest.fixture(scope="module")
def broken_service(tmp_path_factory, databases, model_dir) -> Iterator[ServiceProcess]:
    """A service of its own, logging as text, whose tables are dropped once it is ready."""
    data_dir = tmp_path_factory.mktemp("broken-service")
    url = databases.create("broken")
    env = service_env(model_dir=model_dir, data_dir=data_dir, database_url=url,
                      token=secrets.token_urlsafe(24), port=free_port())
    env["LOG_FORMAT"] = "text"
    process = ServiceProcess.start(env, data_dir / "service.log")
    try:
        process.wait_ready()
        engine = make_engine(url)
        metadata.drop_all(engine)
        engine.dispose()
        yield process
    finally:
        process.stop()


def test_500_carries_no_internal_text_and_the_log_has_the_cause(broken_service):
    response = httpx.post(f"{broken_service.url}/predict", json=GOOD, timeout=10,
                          headers={"X-Internal-Token": broken_service.token, "X-Request-ID": "broken-42"})
    body = assert_problem(response, 500, "internal_error", "/predict")
    assert body["detail"] == ("The server failed to handle this request; the failure is logged under its "
                              "X-Request-ID.")
    assert response.headers["X-Request-ID"] == "broken-42"
    for internal in ("Traceback", "sqlalchemy", "transactions", "table", "relation"):
        assert internal.lower() not in response.text.lower()
    assert "[broken-42] unhandled error on POST /predict" in broken_service.log()


def test_control_characters_in_a_logged_path_cannot_forge_a_log_line(broken_service):
    forged = "2026-01-01 00:00:00,000 CRITICAL app [admin] forged entry"
    response = httpx.get(f"{broken_service.url}/x%0D%0A{forged.replace(' ', '%20')}%1B[2J", timeout=10)
    assert response.status_code == 404
    deadline = time.monotonic() + 10  # the request line is written just after the answer is sent
    while "forged entry" not in broken_service.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = broken_service.log().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    logged = [line for line in lines if "forged entry" in line]
    assert len(logged) == 1 and "GET /x\\r\\n2026-01-01" in logged[0] and "\\x1b[2J" in logged[0]
    assert "\x1b" not in broken_service.log()
