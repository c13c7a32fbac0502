"""Sessions end: refreshes keep the original login time and stop at an absolute lifetime; changing the
password (old one required) ends every session of the user."""

import time
from datetime import timedelta

import jwt
import pytest
from conftest import STRONG_PASSWORD, problem
from django.test import override_settings

from users.tokens import token_backend

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "quartz-Meadow-82-harbor"  # noqa: S105 (test users only)


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def refresh(api, token: str):
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json")


def signed(payload: dict) -> str:
    backend = token_backend()
    return jwt.encode(payload, backend.prepared_signing_key, algorithm="RS256", headers={"kid": backend.signing_kid})


def test_refreshes_keep_the_time_the_password_was_typed(make_user, login, api):
    make_user("alice")
    first = login("alice").json()
    auth_time = claims(first["refresh"])["auth_time"]
    assert abs(auth_time - time.time()) < 5
    second = refresh(api, first["refresh"]).json()
    third = refresh(api, second["refresh"]).json()
    assert claims(third["refresh"])["auth_time"] == auth_time
    assert claims(third["access"])["auth_time"] == auth_time


@override_settings(SESSION_MAX_LIFETIME=timedelta(minutes=10))
def test_no_token_of_a_session_outlives_its_absolute_lifetime(make_user, login, api):
    make_user("alice")
    tokens = refresh(api, login("alice").json()["refresh"]).json()
    deadline = claims(tokens["refresh"])["auth_time"] + 600
    assert claims(tokens["refresh"])["exp"] == deadline  # not the 24 h a refresh token lives otherwise
    assert claims(tokens["access"])["exp"] <= deadline


@override_settings(SESSION_MAX_LIFETIME=timedelta(hours=1))
def test_a_refresh_past_the_sessions_lifetime_is_refused(make_user, login, api):
    make_user("alice")
    live = claims(login("alice").json()["refresh"])
    # A refresh token of this user, still unexpired, of a session that began two hours ago.
    old_session = signed({**live, "jti": "old-session-token", "auth_time": int(time.time()) - 7200})
    body = problem(refresh(api, old_session), 401)
    assert body["code"] == "session_expired"
    assert "log in again" in body["detail"]


@override_settings(SESSION_MAX_LIFETIME=timedelta(hours=1))
def test_a_token_from_before_auth_time_existed_counts_from_its_issue_time(make_user, login, api):
    make_user("alice")
    live = claims(login("alice").json()["refresh"])
    legacy = {key: value for key, value in live.items() if key != "auth_time"}
    assert refresh(api, signed({**legacy, "jti": "legacy-recent"})).status_code == 200
    stale = {**legacy, "jti": "legacy-stale", "iat": int(time.time()) - 7200}
    assert problem(refresh(api, signed(stale)), 401)["code"] == "session_expired"


def change_password(api, access: str, old: str, new: str):
    body = {"old_password": old, "new_password": new}
    return api.post("/api/auth/password/", body, format="json", **bearer(access))


def test_changing_the_password_ends_every_session(make_user, login, api):
    make_user("alice")
    laptop, phone = login("alice").json(), login("alice").json()
    assert change_password(api, laptop["access"], STRONG_PASSWORD, NEW_PASSWORD).status_code == 204
    for session in (laptop, phone):
        assert "blacklisted" in problem(refresh(api, session["refresh"]), 401)["detail"]
    assert login("alice").status_code == 401
    assert login("alice", NEW_PASSWORD).status_code == 200


def test_a_password_reset_by_staff_in_the_admin_ends_the_users_sessions_too(make_user, login, api, admin_client):
    alice = make_user("alice")
    session = login("alice").json()
    page = admin_client.post(
        f"/admin/users/user/{alice.pk}/password/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert page.status_code == 302
    assert "blacklisted" in problem(refresh(api, session["refresh"]), 401)["detail"]
    assert login("alice", NEW_PASSWORD).status_code == 200


@override_settings(PASSWORD_HASHERS=[
    "auth_service.testing.QuickArgon2PasswordHasher", "django.contrib.auth.hashers.MD5PasswordHasher"
])
def test_a_login_that_upgrades_the_password_hash_ends_no_session(make_user, login, api):
    from django.contrib.auth.hashers import make_password

    from users.models import User

    alice = make_user("alice")
    session = login("alice").json()
    # A hash made with an older hasher is rewritten at the next login: not a password change.
    User.objects.filter(pk=alice.pk).update(password=make_password(STRONG_PASSWORD, hasher="md5"))
    assert login("alice").status_code == 200
    assert User.objects.get(pk=alice.pk).password.startswith("argon2")
    assert refresh(api, session["refresh"]).status_code == 200


def test_the_old_password_is_required_and_checked(make_user, login, api):
    make_user("alice")
    tokens = login("alice").json()
    body = problem(change_password(api, tokens["access"], "not-the-password-1", NEW_PASSWORD), 422)
    assert body["errors"] == [{"field": "old_password", "message": "The current password is not correct."}]
    missing = api.post("/api/auth/password/", {"new_password": NEW_PASSWORD}, format="json", **bearer(tokens["access"]))
    assert [error["field"] for error in problem(missing, 422)["errors"]] == ["old_password"]
    assert refresh(api, tokens["refresh"]).status_code == 200  # nothing was revoked
    assert login("alice").status_code == 200


@pytest.mark.parametrize(("new", "fragment"), [("password123", "too common"), ("short1", "too short")])
def test_the_new_password_goes_through_the_validators(make_user, login, api, new, fragment):
    make_user("alice")
    access = login("alice").json()["access"]
    body = problem(change_password(api, access, STRONG_PASSWORD, new), 422)
    assert {error["field"] for error in body["errors"]} == {"new_password"}
    assert fragment in " ".join(error["message"] for error in body["errors"])
    assert login("alice").status_code == 200


def test_changing_the_password_needs_an_access_token(api):
    body = {"old_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD}
    assert problem(api.post("/api/auth/password/", body, format="json"), 401)["code"] == "missing_token"


def test_guessing_the_old_password_with_a_stolen_access_token_is_slowed(make_user, login, api):
    make_user("alice")
    access = login("alice").json()["access"]
    answers = [change_password(api, access, f"guess-number-{n}", NEW_PASSWORD).status_code for n in range(6)]
    assert answers == [422] * 5 + [429]
