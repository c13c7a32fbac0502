"""The cache of verified access tokens never accepts what a full check would refuse (real JWKS server)."""

from __future__ import annotations

import threading
import time

import jwt
import pytest
from app.auth.jwks import JWKSCache
from app.auth.tokens import AccessTokenVerifier, InvalidToken

from tests.support.api import Api
from tests.support.tokens import AUDIENCE, ISSUER, SigningKey, claims_for


def _verifier(jwks_stub, *, cache_size: int = 100, leeway: int = 0, jwks_cache_seconds: float = 600):
    jwks = JWKSCache(f"{jwks_stub.url}/api/auth/jwks/", cache_seconds=jwks_cache_seconds, min_refetch_seconds=0,
                     timeout=2)
    return AccessTokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, leeway=leeway, cache_size=cache_size)


@pytest.fixture
def full_checks(monkeypatch) -> list[str]:
    """The tokens that went through PyJWT's decode (signature and claims), in order."""
    checked = []
    decode = jwt.decode

    def counting_decode(token, *args, **kwargs):
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    return checked


@pytest.fixture
def published_key(jwks_stub):
    """A key published for this test only (rotation / retirement tests change it)."""
    before = list(jwks_stub.keys)
    key = SigningKey.generate("cache-test-key")
    jwks_stub.keys.append(key)
    yield key
    jwks_stub.keys[:] = before


def test_a_reused_token_is_checked_in_full_once(jwks_stub, signing_key, full_checks):
    verifier = _verifier(jwks_stub)
    token = signing_key.sign(claims_for(7, is_staff=True))

    principals = [verifier.verify(token) for _ in range(3)]

    assert principals[0].user_id == "7" and principals[0].is_staff
    assert principals == [principals[0]] * 3
    assert full_checks == [token]


def test_a_cached_token_still_expires(jwks_stub, signing_key):
    verifier = _verifier(jwks_stub, leeway=1)
    exp = int(time.time()) + 1
    token = signing_key.sign(claims_for(7, exp=exp))
    assert verifier.verify(token).user_id == "7"

    time.sleep(max(0.0, exp + 1 - time.time()) + 0.05)  # past exp and the 1 s leeway

    with pytest.raises(InvalidToken, match="token expired"):
        verifier.verify(token)


@pytest.mark.parametrize("change", ["retired", "replaced under the same kid"])
def test_a_token_whose_key_left_the_jwks_is_refused(change, jwks_stub, published_key):
    verifier = _verifier(jwks_stub, jwks_cache_seconds=0.2)
    token = published_key.sign(claims_for(8))
    assert verifier.verify(token).user_id == "8"

    jwks_stub.keys.remove(published_key)
    if change == "replaced under the same kid":
        jwks_stub.keys.append(SigningKey.generate(published_key.kid))
    time.sleep(0.3)  # the JWKS copy goes stale and is fetched again

    expected = "unknown signing key" if change == "retired" else "Signature verification failed"
    with pytest.raises(InvalidToken, match=expected):
        verifier.verify(token)


def test_a_refused_token_is_never_served_from_the_cache(jwks_stub, signing_key, full_checks):
    verifier = _verifier(jwks_stub)
    good = signing_key.sign(claims_for(9))
    verifier.verify(good)
    header, payload, signature = good.split(".")
    refused = {
        # Valid signature, refused only by a later claim check: must not be cached by an early one.
        "refresh token": signing_key.sign(claims_for(9, token_type="refresh")),
        "wrong audience": signing_key.sign(claims_for(9, aud="another-api")),
        # A cached token's signature on other bytes: a different cache key, so checked in full.
        "other payload, cached token's signature": f"{header}.{payload}x.{signature}",
    }

    for name, token in refused.items():
        for attempt in (1, 2):
            with pytest.raises(InvalidToken):
                verifier.verify(token)
                pytest.fail(f"{name} accepted on attempt {attempt}")
    assert full_checks.count(refused["refresh token"]) == 2


def test_the_cache_holds_at_most_its_size_evicting_the_oldest(jwks_stub, signing_key, full_checks):
    verifier = _verifier(jwks_stub, cache_size=3)
    tokens = [signing_key.sign(claims_for(user)) for user in range(4)]
    for token in tokens:
        verifier.verify(token)
    full_checks.clear()

    for token in tokens[1:]:
        verifier.verify(token)
    assert full_checks == []  # the three newest are still cached
    verifier.verify(tokens[0])
    assert full_checks == [tokens[0]]  # the oldest was evicted when the fourth came in


def test_threads_sharing_the_cache_each_get_their_own_principal(jwks_stub, signing_key):
    verifier = _verifier(jwks_stub, cache_size=4)  # smaller than the tokens in use: constant eviction
    tokens = {str(user): signing_key.sign(claims_for(user)) for user in range(10)}
    mismatches, errors = [], []

    def hammer():
        try:
            for _ in range(20):
                for user, token in tokens.items():
                    if verifier.verify(token).user_id != user:
                        mismatches.append(user)
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and mismatches == []


def test_a_reused_token_is_refused_by_the_service_once_its_key_is_retired(start_app, jwks_stub, published_key):
    api = Api(start_app(JWKS_CACHE_SECONDS="0.5").url, published_key)
    token = api.token(10)
    assert [api.get("/transactions", token=token).status_code for _ in range(2)] == [200, 200]

    jwks_stub.keys.remove(published_key)
    time.sleep(0.6)

    refused = api.get("/transactions", token=token)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The access token was refused: unknown signing key."
