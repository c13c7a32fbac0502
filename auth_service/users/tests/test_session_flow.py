"""The user's journey: register, log in, read the profile, refresh, log out."""

import jwt
import pytest
from conftest import STRONG_PASSWORD, problem

from users.models import User

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_register_login_me_refresh_logout(api, login):
    registered = api.post(
        "/api/auth/register/",
        {"username": "carol", "email": "carol@example.com", "password": STRONG_PASSWORD},
        format="json",
    )
    assert registered.status_code == 201, registered.json()
    assert registered.json()["username"] == "carol"
    assert "password" not in registered.json()

    tokens = login("carol").json()
    me = api.get("/api/auth/me/", **bearer(tokens["access"]))
    assert me.status_code == 200
    assert me.json()["id"] == registered.json()["id"]
    assert me.json()["last_login"] is not None

    refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"access", "refresh"}
    assert refreshed.json()["refresh"] != tokens["refresh"]
    assert api.get("/api/auth/me/", **bearer(refreshed.json()["access"])).status_code == 200

    reused = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert "blacklisted" in problem(reused, 401)["detail"]

    new_refresh = refreshed.json()["refresh"]
    access = refreshed.json()["access"]
    logout = api.post("/api/auth/logout/", {"refresh": new_refresh}, format="json", **bearer(access))
    assert logout.status_code == 204
    after_logout = api.post("/api/auth/refresh/", {"refresh": new_refresh}, format="json")
    assert after_logout.status_code == 401


def test_access_token_carries_the_documented_claims(make_user, login):
    user = make_user("dave", is_staff=True)
    access = login("dave").json()["access"]
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["token_type"] == "access"
    assert claims["user_id"] == claims["sub"] == str(user.pk)
    assert claims["username"] == "dave"
    assert claims["is_staff"] is True
    assert claims["iss"] == "detec-fraude-auth"
    assert claims["aud"] == "detec-fraude-api"
    assert claims["exp"] - claims["iat"] == 5 * 60
    assert len(claims["jti"]) >= 16


def test_refresh_reads_claims_from_the_user_not_the_old_token(make_user, login, api):
    user = make_user("erin")
    refresh = login("erin").json()["refresh"]
    User.objects.filter(pk=user.pk).update(is_staff=True)
    access = api.post("/api/auth/refresh/", {"refresh": refresh}, format="json").json()["access"]
    assert jwt.decode(access, options={"verify_signature": False})["is_staff"] is True


def test_refresh_is_refused_once_the_user_is_deactivated(make_user, login, api):
    user = make_user("frank")
    refresh = login("frank").json()["refresh"]
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = api.post("/api/auth/refresh/", {"refresh": refresh}, format="json")
    assert problem(response, 401)["code"] == "invalid_token"


def test_access_token_of_a_deactivated_user_is_refused(make_user, login, api):
    user = make_user("gina")
    access = login("gina").json()["access"]
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert api.get("/api/auth/me/", **bearer(access)).status_code == 401


def test_logout_needs_an_access_token(make_user, login, api):
    make_user("hank")
    refresh = login("hank").json()["refresh"]
    response = api.post("/api/auth/logout/", {"refresh": refresh}, format="json")
    assert problem(response, 401)["code"] == "missing_token"
    assert api.post("/api/auth/refresh/", {"refresh": refresh}, format="json").status_code == 200


def test_logout_cannot_revoke_another_users_refresh_token(make_user, login, api):
    make_user("ivan")
    make_user("jane")
    ivans_access = login("ivan").json()["access"]
    janes_refresh = login("jane").json()["refresh"]
    response = api.post("/api/auth/logout/", {"refresh": janes_refresh}, format="json", **bearer(ivans_access))
    assert problem(response, 403)["code"] == "permission_denied"
    assert api.post("/api/auth/refresh/", {"refresh": janes_refresh}, format="json").status_code == 200


def test_an_access_token_is_not_accepted_as_a_refresh_token(make_user, login, api):
    make_user("kate")
    access = login("kate").json()["access"]
    response = api.post("/api/auth/refresh/", {"refresh": access}, format="json")
    assert "wrong type" in problem(response, 401)["detail"]


def test_two_racing_refreshes_with_one_token_yield_one_new_pair(make_user, login):
    from rest_framework_simplejwt.exceptions import TokenError

    from users import services
    from users.tokens import RefreshToken

    make_user("liam")
    raw = login("liam").json()["refresh"]
    # Both requests parsed (and passed the blacklist check) before either blacklisted it.
    first, second = RefreshToken(raw), RefreshToken(raw)
    assert set(services.session_refresh(refresh=first)) == {"access", "refresh"}
    with pytest.raises(TokenError, match="blacklisted"):
        services.session_refresh(refresh=second)


@pytest.mark.parametrize("refresh", ["", " ", "\u00a0", "\u0000", "abc\u0000def", "not.a.token"])
@pytest.mark.parametrize("path", ["/api/auth/refresh/", "/api/auth/logout/"])
def test_any_string_that_is_not_a_refresh_token_is_401_invalid_token(make_user, login, api, path, refresh):
    # The document allows any string here; blank, whitespace or NUL used to be refused as a 422 of the field.
    make_user("lena")
    access = login("lena").json()["access"]
    response = api.post(path, {"refresh": refresh}, format="json", **bearer(access))
    assert problem(response, 401)["code"] == "invalid_token"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/auth/login/", {"username": 0, "password": STRONG_PASSWORD}, "username"),
    ("/api/auth/refresh/", {"refresh": 12345}, "refresh"),
])
def test_a_number_where_the_document_says_string_is_a_422(api, path, body, field):
    assert [e["field"] for e in problem(api.post(path, body, format="json"), 422)["errors"]] == [field]
