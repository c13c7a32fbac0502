"""Tokens verify against the published JWKS alone; the service's own authentication refuses forgeries."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from auth_service.signing_keys import public_jwk
from conftest import problem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from users.tokens import KeyRingTokenBackend, token_backend

pytestmark = pytest.mark.django_db


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@pytest.fixture(scope="module")
def other_key():
    return _pem_pair()


@pytest.fixture
def alice_tokens(make_user, login):
    make_user("alice")
    return login("alice").json()


def _me(api, token):
    return api.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}")


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_access_token_verifies_with_pyjwt_and_the_jwks_document_alone(api, alice_tokens):
    jwks = api.get("/api/auth/jwks/").json()
    token = alice_tokens["access"]
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [key for key in jwks["keys"] if key["kid"] == kid]
    public_key = jwt.PyJWK(jwk).key

    claims = jwt.decode(
        token, public_key, algorithms=["RS256"], audience="detec-fraude-api", issuer="detec-fraude-auth"
    )
    assert claims["username"] == "alice"
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, public_key, algorithms=["RS256"], audience="another-api", issuer="detec-fraude-auth")
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, public_key, algorithms=["RS256"], audience="detec-fraude-api", issuer="someone-else")


def test_jwks_publishes_only_public_rsa_members_and_may_be_cached(api):
    response = api.get("/api/auth/jwks/")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]
    [key] = response.json()["keys"]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")


def test_kid_is_the_rfc7638_thumbprint():
    # The example key of RFC 7638 section 3.1 and the thumbprint the RFC gives for it.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
        "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
        "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
        "kEgU8awapJzKnqDKgw"
    )
    public_key = jwt.PyJWK({"kty": "RSA", "n": n, "e": "AQAB"}).key
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public_jwk(pem.decode())["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_every_token_header_names_the_published_key(api, alice_tokens):
    published = {key["kid"] for key in api.get("/api/auth/jwks/").json()["keys"]}
    for token in alice_tokens.values():
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "RS256"
        assert header["kid"] in published


def test_token_signed_with_another_key_is_refused_even_under_our_kid(api, alice_tokens, other_key):
    header = jwt.get_unverified_header(alice_tokens["access"])
    claims = _claims(alice_tokens["access"])
    forged = jwt.encode(claims, other_key[0], algorithm="RS256", headers={"kid": header["kid"]})
    assert problem(_me(api, forged), 401)["code"] == "invalid_token"


def test_token_with_an_unknown_kid_is_refused(api, alice_tokens, other_key):
    forged = jwt.encode(_claims(alice_tokens["access"]), other_key[0], algorithm="RS256", headers={"kid": "unknown"})
    assert _me(api, forged).status_code == 401


def test_unsigned_alg_none_token_is_refused(api, alice_tokens):
    kid = jwt.get_unverified_header(alice_tokens["access"])["kid"]
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims(alice_tokens['access']))}."
    assert _me(api, unsigned).status_code == 401


@pytest.mark.parametrize("secret_source", ["public_key", "django_secret_key"])
def test_hs256_token_is_refused(api, alice_tokens, secret_source):
    # The classic confusion attack: HMAC "signed" with the public key the JWKS gives to everyone.
    kid = jwt.get_unverified_header(alice_tokens["access"])["kid"]
    secret = settings.JWT_VERIFYING_KEYS[0] if secret_source == "public_key" else settings.SECRET_KEY
    payload = _b64({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + _b64(_claims(alice_tokens["access"]))
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    token = payload + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    assert _me(api, token).status_code == 401


def _signed(claims: dict, **changes) -> str:
    """A token signed with the service's real key, with some claims changed or removed (None)."""
    backend = token_backend()
    payload = {**claims, **changes}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, backend.prepared_signing_key, algorithm="RS256", headers={"kid": backend.signing_kid})


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 10},
        {"aud": "another-api"},
        {"iss": "someone-else"},
        {"token_type": "refresh"},
        {"sub": None},
        {"jti": None},
        {"user_id": "999999"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "refresh-as-access", "no-sub", "no-jti", "unknown-user"],
)
def test_token_signed_by_us_but_unacceptable_is_refused(api, alice_tokens, changes):
    assert _me(api, _signed(_claims(alice_tokens["access"]))).status_code == 200  # the control
    assert _me(api, _signed(_claims(alice_tokens["access"]), **changes)).status_code == 401


def test_tampered_refresh_token_is_refused(api, alice_tokens):
    header, payload, signature = alice_tokens["refresh"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = f"{header}.{_b64({**claims, 'user_id': '1', 'sub': '1', 'is_staff': True})}.{signature}"
    response = api.post("/api/auth/refresh/", {"refresh": tampered}, format="json")
    assert problem(response, 401)["code"] == "invalid_token"


def test_expired_refresh_token_is_refused(api, alice_tokens):
    expired = _signed(_claims(alice_tokens["refresh"]), exp=int(time.time()) - 1)
    response = api.post("/api/auth/refresh/", {"refresh": expired}, format="json")
    body = problem(response, 401)
    assert body["code"] == "token_expired"
    assert "expired" in body["detail"]


@pytest.fixture
def rotated_keys(other_key):
    """The service signs with its key and also publishes (and accepts) a second one, as during a rotation."""
    original = settings.JWT_VERIFYING_KEYS
    settings.JWT_VERIFYING_KEYS = [*original, other_key[1]]
    token_backend.cache_clear()
    yield other_key
    settings.JWT_VERIFYING_KEYS = original
    token_backend.cache_clear()


def test_during_a_rotation_tokens_of_every_published_key_are_accepted(api, alice_tokens, rotated_keys):
    jwks = api.get("/api/auth/jwks/").json()
    assert len(jwks["keys"]) == 2
    old_kid = public_jwk(rotated_keys[1])["kid"]
    assert old_kid in {key["kid"] for key in jwks["keys"]}

    claims = _claims(alice_tokens["access"])
    by_old_key = jwt.encode(claims, rotated_keys[0], algorithm="RS256", headers={"kid": old_kid})
    assert _me(api, by_old_key).status_code == 200
    # New tokens are still signed with the current key.
    assert jwt.get_unverified_header(alice_tokens["access"])["kid"] == jwks["keys"][0]["kid"]


def test_backend_signs_with_the_first_key_and_names_it(other_key):
    backend = KeyRingTokenBackend(
        signing_key_pem=other_key[0], verifying_key_pems=[other_key[1]], issuer="i", audience="a"
    )
    token = backend.encode({"token_type": "access", "user_id": "1", "sub": "1", "jti": "x", "exp": 2**31, "iat": 1})
    assert jwt.get_unverified_header(token)["kid"] == public_jwk(other_key[1])["kid"]
    assert backend.decode(token)["aud"] == "a"
