"""Probes, the shared error shape, request ids."""

import os
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_health_and_ready_answer_200(client):
    assert client.get("/health/").json() == {"status": "ok"}
    ready = client.get("/ready/")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_ready_is_503_when_the_database_is_unreachable_while_health_stays_200(client):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        ready = client.get("/ready/")
        assert client.get("/health/").status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable"}


@override_settings(ALLOWED_HOSTS=["auth.example.com"])
def test_probes_answer_whatever_host_the_kubelet_uses_but_the_api_does_not(client):
    assert client.get("/health/", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/ready/", HTTP_HOST="10.1.2.3:8000").status_code == 200
    refused = client.get("/api/auth/jwks/", HTTP_HOST="10.1.2.3:8000")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "bad_request"
    assert client.get("/api/auth/jwks/", HTTP_HOST="auth.example.com").status_code == 200


def test_unknown_path_is_a_json_404(client):
    response = client.get("/api/auth/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "status": 404, "code": "not_found", "message": "No resource at /api/auth/nothing-here/."
    }


def test_wrong_method_is_a_json_405(client):
    response = client.get("/api/auth/login/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_me_without_token_is_a_json_401_with_www_authenticate(client):
    response = client.get("/api/auth/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_unexpected_error_is_a_json_500_without_a_stack_trace(api):
    api.raise_request_exception = False
    with mock.patch("users.views.token_backend", side_effect=RuntimeError("secret detail")):
        response = api.get("/api/auth/jwks/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "secret detail" not in response.content.decode()


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    generated = client.get("/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert generated != "bad id\nwith newline" and len(generated) == 32


def test_openapi_schema_lists_the_auth_paths(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/auth/register/", "/api/auth/login/", "/api/auth/refresh/", "/api/auth/me/", "/api/auth/jwks/"):
        assert path in paths
    assert client.get("/api/docs/").status_code == 200


def test_suite_runs_on_the_database_postgres_url_names():
    assert connection.vendor == ("postgresql" if os.environ.get("POSTGRES_URL") else "sqlite")
