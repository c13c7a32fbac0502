"""Token verification against the stub JWKS: every attack is a 401 with a Bearer challenge."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.api import Api
from tests.support.tokens import SigningKey, claims_for, hs256_with_public_key, unsigned_token


def _attacks(key: SigningKey, stranger: SigningKey) -> dict[str, str]:
    past = int(time.time()) - 3600
    return {
        "alg none": unsigned_token(claims_for(5), key.kid),
        "HS256 signed with the public key": hs256_with_public_key(claims_for(5), key),
        "expired": key.sign(claims_for(5, iat=past - 300, exp=past)),
        "wrong issuer": key.sign(claims_for(5, iss="someone-else")),
        "wrong audience": key.sign(claims_for(5, aud="another-api")),
        "refresh token as access": key.sign(claims_for(5, token_type="refresh")),
        "no token_type": key.sign(claims_for(5, token_type=None)),
        "no exp": key.sign(claims_for(5, exp=None)),
        "unknown kid": stranger.sign(claims_for(5)),
        "known kid, other key's signature": SigningKey(key.kid, stranger.private_key).sign(claims_for(5)),
        "no kid": jwt_without_kid(key),
        "tampered payload": tamper(key.sign(claims_for(5, is_staff=False))),
        "not a JWT": "not-a-token",
    }


def jwt_without_kid(key: SigningKey) -> str:
    return jwt.encode(claims_for(5), key.private_key, algorithm="RS256")


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["is_staff"] = True
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


ATTACKS = ["alg none", "HS256 signed with the public key", "expired", "wrong issuer", "wrong audience",
           "refresh token as access", "no token_type", "no exp", "unknown kid",
           "known kid, other key's signature", "no kid", "tampered payload", "not a JWT"]


@pytest.fixture(scope="module")
def stranger() -> SigningKey:
    return SigningKey.generate("stranger-key")


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_tokens_are_refused(attack, api, signing_key, stranger, count_rows):
    token = _attacks(signing_key, stranger)[attack]
    before = count_rows()

    created = api.post("/transactions", token=token, json={"amount": 1, "currency": "EUR", "terminal_id": "T"})
    listed = api.get("/transactions", token=token)

    for response in (created, listed):
        assert response.status_code == 401, attack
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["code"] == ("token_expired" if attack == "expired" else "invalid_token")
        assert response.json()["detail"].startswith("The access token was refused")
    assert count_rows() == before


def test_missing_or_non_bearer_authorization_is_401(api):
    missing = api.get("/transactions", user=None)
    basic = api.get("/transactions", user=None, headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert basic.status_code == 401


def test_valid_token_within_clock_leeway_is_accepted(api, signing_key):
    just_expired = signing_key.sign(claims_for(5, exp=int(time.time()) - 5))

    assert api.get("/transactions", token=just_expired).status_code == 200


def test_rotated_key_is_picked_up_without_restart(api, jwks_stub):
    new_key = SigningKey.generate("rotated-key")
    token = new_key.sign(claims_for(6))
    time.sleep(0.6)  # past the refetch rate limit left by earlier unknown-kid tests
    assert api.get("/transactions", token=token).status_code == 401  # not published yet

    jwks_stub.keys.append(new_key)
    try:
        time.sleep(0.6)
        assert api.get("/transactions", token=token).status_code == 200
    finally:
        jwks_stub.keys.remove(new_key)


def test_a_published_rsa_key_under_2048_bits_is_refused(api, jwks_stub):
    weak = SigningKey("weak-1024", rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505
    strong = SigningKey.generate("strong-next")
    jwks_stub.keys.extend([weak, strong])
    try:
        time.sleep(0.6)  # past the refetch rate limit
        refused = api.get("/transactions", token=weak.sign(claims_for(6)))
        time.sleep(0.6)
        accepted = api.get("/transactions", token=strong.sign(claims_for(6)))
    finally:
        jwks_stub.keys.remove(weak)
        jwks_stub.keys.remove(strong)

    assert refused.status_code == 401
    assert refused.json()["detail"] == "The access token was refused: unknown signing key."
    assert accepted.status_code == 200  # the same JWKS document: only the weak key was dropped


def test_unknown_kid_flood_refetches_the_jwks_at_a_bounded_rate(api, jwks_stub, stranger):
    time.sleep(0.6)
    hits_before = jwks_stub.hits
    began = time.monotonic()
    for number in range(20):
        token = SigningKey(f"forged-{number}", stranger.private_key).sign(claims_for(5))
        assert api.get("/transactions", token=token).status_code == 401
    elapsed = time.monotonic() - began

    # JWKS_MIN_REFETCH_SECONDS is 0.5 in the suite: at most one fetch per half second however many forged
    # kids arrive (20 requests, so without the bound there would be 20 fetches).
    assert jwks_stub.hits - hits_before <= 1 + int(elapsed / 0.5)
    assert jwks_stub.hits - hits_before < 20


def test_staff_only_routes_refuse_customers(api):
    created = api.create(user=51).json()

    response = api.post(f"/transactions/{created['id']}/label", user=51, json={"is_fraud": True})

    assert response.status_code == 403


def test_unreachable_jwks_is_503_not_a_pass(start_app, signing_key):
    api = Api(start_app(AUTH_JWKS_URL="http://127.0.0.1:9/jwks").url, signing_key)

    response = api.get("/transactions", user=5)

    assert response.status_code == 503
    assert response.json()["code"] == "jwks_unavailable" and "unavailable" in response.json()["detail"]


