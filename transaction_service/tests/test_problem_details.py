"""Every error is RFC 9457 problem details (README, "Errors"), whatever produced it: a route, a
dependency, the framework (unknown path, wrong method), validation, the body limit, or an unexpected failure."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from app.models import Base
from sqlalchemy import create_engine

from fastapi_plumbing.testing import assert_openapi_declares_problems, assert_problem
from tests.support.api import Api
from tests.support.database import suite_database
from tests.support.tokens import claims_for

VALID = {"amount": "10.00", "currency": "EUR", "terminal_id": "T-1"}


def test_400_malformed_json(api):
    response = api.post("/transactions", user=71, content=b'{"amount":', headers={"Content-Type": "application/json"})
    body = assert_problem(response, 400, "malformed_json", "/transactions")
    assert body["errors"][0]["field"] == "body"


def test_401_missing_and_expired_token(api, signing_key):
    missing = assert_problem(api.get("/transactions", user=None), 401, "missing_token", "/transactions")
    assert "access token" in missing["detail"]
    past = int(time.time()) - 3600
    expired = api.get("/transactions", token=signing_key.sign(claims_for(71, iat=past - 300, exp=past)))
    assert_problem(expired, 401, "token_expired", "/transactions")
    assert expired.headers["WWW-Authenticate"] == "Bearer"


def test_403_staff_only(api):
    created = api.create(user=72).json()
    path = f"/transactions/{created['id']}/label"
    assert_problem(api.post(path, user=72, json={"is_fraud": True}), 403, "staff_only", path)


def test_404_from_the_framework_and_from_a_route(api):
    assert_problem(api.get("/no/such/path"), 404, "not_found", "/no/such/path")
    path = f"/transactions/{uuid.uuid4()}"
    assert_problem(api.get(path, user=73), 404, "transaction_not_found", path)


@pytest.mark.parametrize("method", ["DELETE", "OPTIONS"])
def test_405_wrong_method_names_every_method_of_the_path(api, method):
    response = api.request(method, "/transactions", user=73)
    body = assert_problem(response, 405, "method_not_allowed", "/transactions")
    assert body["detail"] == f"{method} is not allowed on /transactions; use GET, POST."
    assert response.headers["Allow"] == "GET, POST"  # was POST alone: the first route on the path


def test_422_names_each_field(api):
    response = api.post("/transactions", user=74, json={**VALID, "amount": -1, "currency": "EURO"})
    body = assert_problem(response, 422, "validation_error", "/transactions")
    assert [e["field"] for e in body["errors"]] == ["amount", "currency"]
    assert all(set(e) == {"field", "message"} for e in body["errors"])


def test_503_when_the_token_keys_are_unreachable(start_app, signing_key):
    api = Api(start_app(AUTH_JWKS_URL="http://127.0.0.1:9/jwks").url, signing_key)
    response = api.get("/transactions", user=75)
    assert_problem(response, 503, "jwks_unavailable", "/transactions")
    assert response.headers["Retry-After"]


def test_openapi_declares_problem_details_for_every_operation(api):
    assert_openapi_declares_problems(api.get("/openapi.json", user=None).json())


@pytest.fixture(scope="module")
def broken_api(start_app, signing_key, tmp_path_factory):
    """A service of its own, logging as text, whose tables are dropped once it runs."""
    with suite_database(tmp_path_factory.mktemp("broken")) as url:
        running = start_app(DATABASE_URL=url, LOG_FORMAT="text")
        engine = create_engine(url)
        Base.metadata.drop_all(engine)
        engine.dispose()
        yield running, Api(running.url, signing_key)
        running.stop()


def test_500_carries_no_internal_text_and_the_log_has_the_cause(broken_api):
    running, api = broken_api
    response = api.get("/transactions", user=76, headers={"X-Request-ID": "broken-42"})
    body = assert_problem(response, 500, "internal_error", "/transactions")
    assert body["detail"] == ("The server failed to handle this request; the failure is logged under its "
                              "X-Request-ID.")
    assert response.headers["X-Request-ID"] == "broken-42"
    for internal in ("Traceback", "sqlalchemy", "OperationalError", "ProgrammingError", "table", "relation"):
        assert internal.lower() not in response.text.lower()
    assert "[broken-42] unhandled error on GET /transactions" in running.log_path.read_text()


def test_control_characters_in_a_logged_path_cannot_forge_a_log_line(broken_api):
    running, _ = broken_api
    forged = "2026-01-01 00:00:00,000 CRITICAL app [admin] forged entry"
    response = httpx.get(f"{running.url}/x%0D%0A{forged.replace(' ', '%20')}%1B[2J", timeout=10)
    assert response.status_code == 404
    deadline = time.monotonic() + 10  # the request line is written just after the answer is sent
    while "forged entry" not in running.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = running.log_path.read_text().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    logged = [line for line in lines if "forged entry" in line]
    assert len(logged) == 1 and "GET /x\\r\\n2026-01-01" in logged[0] and "\\x1b[2J" in logged[0]
    assert "\x1b" not in running.log_path.read_text()
