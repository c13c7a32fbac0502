"""Login resists guessing without handing out a lockout: failures slow down their own username+IP pair
(and a spraying IP), never the account itself; the admin login form is guarded the same way."""

import logging

import pytest
from conftest import STRONG_PASSWORD, problem
from django.test import Client, override_settings
from prometheus_client import REGISTRY

from users import login_guard

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-1"
ATTACKER = {"REMOTE_ADDR": "203.0.113.9"}
USER_ADDRESS = {"REMOTE_ADDR": "198.51.100.7"}


def fail_login(login, username, times, **extra):
    return [login(username, WRONG, **extra).status_code for _ in range(times)]


class Clock:
    """Stands in for the guard's clock, so that delays can pass without sleeping."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    import time

    fake = Clock(time.time())
    monkeypatch.setattr(login_guard, "time", fake)
    return fake


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_wrong_password_unknown_user_and_inactive_user_get_the_same_401(make_user, login):
    make_user("alice")
    make_user("ghost").__class__.objects.filter(username="ghost").update(is_active=False)
    answers = [problem(login("alice", WRONG), 401), problem(login("nobody"), 401), problem(login("ghost"), 401)]
    assert len({answer["detail"] for answer in answers}) == 1
    assert answers[0]["code"] == "invalid_credentials"


def test_login_fields_are_required(api):
    body = problem(api.post("/api/auth/login/", {"username": "alice"}, format="json"), 422)
    assert body["errors"] == [{"field": "password", "message": "This field is required."}]


def test_guessing_from_one_address_does_not_lock_the_user_out_from_another(make_user, login):
    make_user("alice")
    assert fail_login(login, "alice", 5, **ATTACKER) == [401] * 5
    delayed = problem(login("alice", **ATTACKER), 429)  # even the right password: the pair must wait
    assert delayed["code"] == "rate_limited"
    assert login("ALICE", WRONG, **ATTACKER).status_code == 429  # same account, other spelling
    # The real user, elsewhere, is not slowed at all: neither a typo nor the right password.
    assert login("alice", WRONG, **USER_ADDRESS).status_code == 401
    assert login("alice", **USER_ADDRESS).status_code == 200


def test_the_right_password_is_accepted_on_the_same_address_once_the_delay_has_passed(make_user, login, clock):
    make_user("alice")
    fail_login(login, "alice", 5, **ATTACKER)
    delayed = login("alice", **ATTACKER)
    assert delayed.status_code == 429
    assert delayed["Retry-After"] == "1"
    clock.now += 1
    assert login("alice", **ATTACKER).status_code == 200


def test_the_delay_doubles_with_each_further_failure_up_to_the_ceiling(make_user, login, clock):
    make_user("alice")
    fail_login(login, "alice", 5, **ATTACKER)
    waits = []
    for _ in range(12):
        waits.append(int(login("alice", WRONG, **ATTACKER)["Retry-After"]))
        clock.now += waits[-1]
        assert login("alice", WRONG, **ATTACKER).status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]


def test_a_successful_login_clears_the_pairs_failures(make_user, login):
    make_user("alice")
    assert fail_login(login, "alice", 4) == [401] * 4
    assert login("alice").status_code == 200
    assert fail_login(login, "alice", 4) == [401] * 4
    assert login("alice").status_code == 200


def test_lockouts_are_logged_and_counted(make_user, login, caplog):
    make_user("alice")
    before = metric("auth_login_lockouts_total", via="api", scope="username_ip")
    failures_before = metric("auth_login_failures_total", via="api")
    with caplog.at_level(logging.WARNING, logger="users.login_guard"):
        fail_login(login, "alice", 5, **ATTACKER)
    assert metric("auth_login_lockouts_total", via="api", scope="username_ip") == before + 1
    assert metric("auth_login_failures_total", via="api") == failures_before + 5
    [record] = [r for r in caplog.records if "login lockout" in r.getMessage()]
    assert "'alice'" in record.getMessage() and "203.0.113.9" in record.getMessage()


def test_one_ip_spraying_many_usernames_is_refused_but_other_ips_are_not(make_user, login):
    make_user("alice")
    before = metric("auth_login_lockouts_total", via="api", scope="ip")
    for index in range(20):
        assert login(f"user{index}", WRONG, **ATTACKER).status_code == 401
    assert login("alice", **ATTACKER).status_code == 429
    assert login("alice", **USER_ADDRESS).status_code == 200
    assert metric("auth_login_lockouts_total", via="api", scope="ip") == before + 1


def test_a_forged_x_forwarded_for_does_not_escape_the_ip_limit(login):
    for index in range(20):
        login(f"user{index}", WRONG, **ATTACKER)
    spoofed = login("user99", WRONG, HTTP_X_FORWARDED_FOR="10.0.0.1", **ATTACKER)
    assert spoofed.status_code == 429


@override_settings(LOGIN_DELAY=(2, 1, 900))
def test_the_delay_and_the_threshold_are_settings(make_user, login):
    make_user("alice")
    assert fail_login(login, "alice", 2, **ATTACKER) == [401, 401]
    assert login("alice", **ATTACKER)["Retry-After"] == "1"


def _admin_login(client: Client, password: str, **extra):
    return client.post("/admin/login/", {"username": "analyst", "password": password, "next": "/admin/"}, **extra)


def test_the_admin_login_form_is_guarded_the_same_way(make_user):
    make_user("analyst", is_staff=True)
    attacker = Client(**ATTACKER)
    assert [_admin_login(attacker, WRONG).status_code for _ in range(5)] == [200] * 5  # the form, with an error
    body = problem(_admin_login(attacker, STRONG_PASSWORD), 429)
    assert body["code"] == "rate_limited"
    analyst = Client(**USER_ADDRESS)
    logged_in = _admin_login(analyst, STRONG_PASSWORD)
    assert logged_in.status_code == 302
    assert analyst.get("/admin/").status_code == 200


def test_admin_and_api_failures_share_the_pairs_count(make_user, login):
    make_user("analyst", is_staff=True)
    attacker = Client(**ATTACKER)
    for _ in range(3):
        _admin_login(attacker, WRONG)
    assert fail_login(login, "analyst", 2, **ATTACKER) == [401, 401]
    assert login("analyst", **ATTACKER).status_code == 429
    assert metric("auth_login_failures_total", via="admin") >= 3
