"""Registration resists mass sign-up and name probing: attempts per IP, failures per username."""

import pytest
from conftest import STRONG_PASSWORD, problem
from django.test import override_settings

from users.models import User

pytestmark = pytest.mark.django_db


def _register(api, username, password=STRONG_PASSWORD, **extra):
    body = {"username": username, "email": f"{username}@example.com", "password": password}
    return api.post("/api/auth/register/", body, format="json", **extra)


@override_settings(AUTH_THROTTLES={
    "login_failures_per_ip": (20, 900),
    "registrations_per_ip": (3, 3600), "registration_failures_per_username": (2, 3600),
})
def test_registration_is_limited_per_ip_without_blocking_other_ips(api):
    assert [_register(api, f"user{n}").status_code for n in range(3)] == [201] * 3
    refused = _register(api, "user3")
    assert problem(refused, 429)["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    assert not User.objects.filter(username="user3").exists()
    assert _register(api, "user3", REMOTE_ADDR="198.51.100.7").status_code == 201


@override_settings(AUTH_THROTTLES={
    "login_failures_per_ip": (20, 900),
    "registrations_per_ip": (100, 3600), "registration_failures_per_username": (2, 3600),
})
def test_repeated_failed_registrations_of_one_username_are_throttled(api):
    assert [_register(api, "target", password="short").status_code for _ in range(2)] == [422, 422]
    assert _register(api, "target").status_code == 429
    assert _register(api, "someone-else").status_code == 201
