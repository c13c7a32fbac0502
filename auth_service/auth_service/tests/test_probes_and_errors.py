"""Probes, metrics, request ids, and RFC 9457 problem details for every error status."""

import os
from unittest import mock

import pytest
from conftest import STRONG_PASSWORD, problem
from django.db import OperationalError, connection
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_health_and_ready_answer_200(client):
    assert client.get("/health/").json() == {"status": "ok"}
    ready = client.get("/ready/")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_ready_is_a_503_problem_when_the_database_is_unreachable_while_health_stays_200(client):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        ready = client.get("/ready/")
        assert client.get("/health/").status_code == 200
    body = problem(ready, 503)
    assert (body["code"], body["database"]) == ("not_ready", "unreachable")
    assert "connection refused" not in ready.content.decode()


@override_settings(ALLOWED_HOSTS=["auth.example.com"])
def test_probes_answer_whatever_host_the_kubelet_uses_but_the_api_does_not(client):
    assert client.get("/health/", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/ready/", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/metrics", HTTP_HOST="10.1.2.3:8000").status_code == 200
    refused = client.get("/api/auth/jwks/", HTTP_HOST="10.1.2.3:8000")
    assert problem(refused, 400)["code"] == "bad_request"
    assert client.get("/api/auth/jwks/", HTTP_HOST="auth.example.com").status_code == 200


def test_unknown_path_is_a_404_problem(client):
    response = client.get("/api/auth/nothing-here/")
    assert problem(response, 404) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No resource at /api/auth/nothing-here/.",
        "instance": "/api/auth/nothing-here/",
        "code": "not_found",
    }


def test_wrong_method_on_the_api_is_a_405_problem_with_allow(client):
    response = client.get("/api/auth/login/")
    assert problem(response, 405)["code"] == "method_not_allowed"
    assert "POST" in response["Allow"]


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("delete", "/api/auth/register/", "POST, OPTIONS"), ("post", "/api/auth/jwks/", "GET, HEAD, OPTIONS"),
    ("options", "/health/", "GET, HEAD"), ("delete", "/ready/", "GET, HEAD"), ("post", "/metrics", "GET, HEAD"),
])
def test_a_405_lists_every_method_the_path_serves(client, method, path, allow):
    # The probes answered any other method with 404 (nothing served here) and no Allow.
    response = getattr(client, method)(path)
    assert problem(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == allow


def test_djangos_own_405_is_a_problem_too(admin_client):
    response = admin_client.get("/admin/logout/")  # Django's admin logs out on POST only
    body = problem(response, 405)
    assert body["code"] == "method_not_allowed"
    assert "POST" in body["detail"] and "POST" in response["Allow"]


def test_unacceptable_media_type_is_a_406_problem(api, make_user, login):
    make_user("alice")
    access = login("alice").json()["access"]
    response = api.get("/api/auth/me/", HTTP_ACCEPT="application/xml", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert problem(response, 406)["code"] == "not_acceptable"


def test_me_without_token_is_a_401_problem_with_www_authenticate(client):
    response = client.get("/api/auth/me/")
    assert problem(response, 401)["code"] == "missing_token"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_admin_form_without_csrf_token_is_a_403_problem(make_user):
    make_user("analyst", is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/admin/login/", {"username": "analyst", "password": STRONG_PASSWORD})
    assert problem(response, 403)["code"] == "csrf_failed"


def test_throttled_login_is_a_429_problem_with_retry_after(make_user, login):
    make_user("alice")
    for _ in range(5):
        login("alice", "not-the-password-1")
    response = login("alice")
    body = problem(response, 429)
    assert body["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert response["Retry-After"] in body["detail"]


def test_unexpected_error_is_a_500_problem_without_a_stack_trace(api):
    api.raise_request_exception = False
    with mock.patch("users.views.token_backend", side_effect=RuntimeError("secret detail")):
        response = api.get("/api/auth/jwks/")
    body = problem(response, 500)
    assert body["code"] == "internal_error"
    assert response["X-Request-ID"] in body["detail"]  # what to look for in the logs
    assert "secret detail" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = client.get("/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert generated != "bad id\nwith newline" and len(generated) == 32


def test_openapi_schema_lists_the_auth_paths(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/auth/register/", "/api/auth/login/", "/api/auth/refresh/", "/api/auth/me/",
                 "/api/auth/jwks/", "/api/auth/password/"):
        assert path in paths
    assert client.get("/api/docs/").status_code == 200


def test_openapi_schema_declares_every_error_as_problem_details(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {
        "type", "title", "status", "detail", "instance", "code"
    }
    errors = {
        (path, method): {status: response for status, response in op["responses"].items() if status >= "400"}
        for path, operations in schema["paths"].items()
        for method, op in operations.items()
    }
    for (path, method), responses in errors.items():
        assert "500" in responses, (path, method)
        for status, response in responses.items():
            assert list(response["content"]) == ["application/problem+json"], (path, method, status)
    login = errors[("/api/auth/login/", "post")]
    assert {"400", "401", "413", "415", "422", "429", "500"} <= set(login)
    assert "Retry-After" in login["429"]["headers"]
    assert "401" in errors[("/api/auth/me/", "get")]


def test_suite_runs_on_the_database_postgres_url_names():
    assert connection.vendor == ("postgresql" if os.environ.get("POSTGRES_URL") else "sqlite")
