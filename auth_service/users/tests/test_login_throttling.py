"""Login and registration resist guessing: failures are counted per username and per IP, and only the
offender is refused (429 + Retry-After)."""

import time

import pytest
from conftest import STRONG_PASSWORD
from django.test import override_settings

from users.models import User

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-1"


def fail_login(login, username, times, **extra):
    return [login(username, WRONG, **extra).status_code for _ in range(times)]


def test_wrong_password_unknown_user_and_inactive_user_get_the_same_401(make_user, login):
    make_user("alice")
    make_user("ghost").__class__.objects.filter(username="ghost").update(is_active=False)
    answers = [login("alice", WRONG), login("nobody"), login("ghost")]
    assert {response.status_code for response in answers} == {401}
    assert len({response.json()["error"]["message"] for response in answers}) == 1
    assert answers[0].json()["error"]["code"] == "invalid_credentials"


def test_login_fields_are_required(api):
    response = api.post("/api/auth/login/", {"username": "alice"}, format="json")
    assert response.status_code == 422
    assert list(response.json()["error"]["fields"]) == ["password"]


def test_repeated_failures_lock_that_username_with_429_and_retry_after(make_user, login):
    make_user("alice")
    assert fail_login(login, "alice", 5) == [401] * 5
    locked = login("alice")  # even the right password, or guessing could go on until it succeeds
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 900
    assert locked.json()["error"]["code"] == "throttled"
    assert login("ALICE", WRONG).status_code == 429  # same account, other spelling


def test_a_locked_username_does_not_lock_out_other_users(make_user, login):
    make_user("alice")
    make_user("bob")
    fail_login(login, "alice", 5)
    assert login("alice").status_code == 429
    assert login("bob").status_code == 200


def test_a_successful_login_clears_the_usernames_failures(make_user, login):
    make_user("alice")
    fail_login(login, "alice", 4)
    assert login("alice").status_code == 200
    assert fail_login(login, "alice", 4) == [401] * 4
    assert login("alice").status_code == 200


def test_one_ip_spraying_many_usernames_is_refused_but_other_ips_are_not(make_user, login):
    make_user("alice")
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for index in range(20):
        assert login(f"user{index}", WRONG, **attacker).status_code == 401
    assert login("alice", **attacker).status_code == 429
    assert login("alice", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_a_forged_x_forwarded_for_does_not_escape_the_ip_limit(login):
    for index in range(20):
        login(f"user{index}", WRONG, REMOTE_ADDR="203.0.113.9")
    spoofed = login("user99", WRONG, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{index}")
    assert spoofed.status_code == 429


@override_settings(AUTH_THROTTLES={
    "login_failures_per_username": (2, 1), "login_failures_per_ip": (100, 1),
    "registrations_per_ip": (100, 1), "registration_failures_per_username": (100, 1),
})
def test_the_lock_ends_when_the_window_does(make_user, login):
    make_user("alice")
    fail_login(login, "alice", 2)
    locked = login("alice")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "1"
    time.sleep(1.1)
    assert login("alice").status_code == 200


def _register(api, username, password=STRONG_PASSWORD, **extra):
    body = {"username": username, "email": f"{username}@example.com", "password": password}
    return api.post("/api/auth/register/", body, format="json", **extra)


@override_settings(AUTH_THROTTLES={
    "login_failures_per_username": (5, 900), "login_failures_per_ip": (20, 900),
    "registrations_per_ip": (3, 3600), "registration_failures_per_username": (2, 3600),
})
def test_registration_is_limited_per_ip_without_blocking_other_ips(api):
    assert [_register(api, f"user{n}").status_code for n in range(3)] == [201] * 3
    refused = _register(api, "user3")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert not User.objects.filter(username="user3").exists()
    assert _register(api, "user3", REMOTE_ADDR="198.51.100.7").status_code == 201


@override_settings(AUTH_THROTTLES={
    "login_failures_per_username": (5, 900), "login_failures_per_ip": (20, 900),
    "registrations_per_ip": (100, 3600), "registration_failures_per_username": (2, 3600),
})
def test_repeated_failed_registrations_of_one_username_are_throttled(api):
    assert [_register(api, "target", password="short").status_code for _ in range(2)] == [422, 422]
    assert _register(api, "target").status_code == 429
    assert _register(api, "someone-else").status_code == 201
