import os

import psycopg2
import pytest
from rest_framework.test import APIClient

STRONG_PASSWORD = "plum-Orbit-57-lantern"  # noqa: S105 (test users only)


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """With POSTGRES_URL the suite runs there; unreachable is a skip, or a failure with REQUIRE_POSTGRES=1."""
    url = os.environ.get("POSTGRES_URL")
    if not url:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but POSTGRES_URL is not set")
        return
    try:
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at POSTGRES_URL is unreachable: {exc}")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def make_user(db):
    from users.services import user_create

    def make(username="alice", password=STRONG_PASSWORD, email=None, is_staff=False):
        return user_create(
            username=username, email=email or f"{username}@example.com", password=password, is_staff=is_staff
        )

    return make


@pytest.fixture
def login(api):
    def do(username="alice", password=STRONG_PASSWORD, **extra):
        return api.post("/api/auth/login/", {"username": username, "password": password}, format="json", **extra)

    return do


def problem(response, status: int) -> dict:
    """The RFC 9457 body of an error response, after checking its status, media type and members."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["code"]
    assert body["instance"] == response.wsgi_request.path
    return body
