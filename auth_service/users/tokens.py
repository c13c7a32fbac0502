"""simplejwt tokens signed RS256 by a key ring: the ``kid`` of the signing key goes in every header, and
a token verifies only against the published key its ``kid`` names (HS256, ``alg: none`` and unknown keys
are refused)."""

import time
from functools import lru_cache

import jwt
from auth_service.signing_keys import public_jwk
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken, TokenError

ALGORITHM = "RS256"
# A token missing any of these is refused, whoever signed it.
REQUIRED_CLAIMS = ["token_type", "exp", "iat", "jti", "iss", "aud", "sub", "user_id"]


class KeyRingTokenBackend(TokenBackend):
    def __init__(self, *, signing_key_pem: str, verifying_key_pems: list[str], issuer: str, audience: str):
        super().__init__(ALGORITHM, signing_key_pem, verifying_key_pems[0], audience, issuer)
        self.jwks = {"keys": [public_jwk(pem) for pem in verifying_key_pems]}
        self.signing_kid = self.jwks["keys"][0]["kid"]
        self._keys_by_kid = {
            jwk["kid"]: serialization.load_pem_public_key(pem.encode())
            for jwk, pem in zip(self.jwks["keys"], verifying_key_pems, strict=True)
        }

    def encode(self, payload: dict) -> str:
        claims = {**payload, "iss": self.issuer, "aud": self.audience}
        return jwt.encode(claims, self.prepared_signing_key, algorithm=ALGORITHM, headers={"kid": self.signing_kid})

    def decode(self, token, verify: bool = True) -> dict:
        try:
            key = self._keys_by_kid.get(jwt.get_unverified_header(token).get("kid"))
            if key is None:
                raise TokenBackendError("Token is signed with an unknown key")
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],  # never taken from the token itself
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS, "verify_signature": verify},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError(f"Token is invalid: {exc}") from exc


@lru_cache(maxsize=1)
def token_backend() -> KeyRingTokenBackend:
    return KeyRingTokenBackend(
        signing_key_pem=settings.JWT_SIGNING_KEY,
        verifying_key_pems=settings.JWT_VERIFYING_KEYS,
        issuer=settings.SIMPLE_JWT["ISSUER"],
        audience=settings.SIMPLE_JWT["AUDIENCE"],
    )


class _SignedByKeyRing:
    @property
    def token_backend(self) -> KeyRingTokenBackend:
        return token_backend()


class AccessToken(_SignedByKeyRing, tokens.AccessToken):
    pass


class SessionExpired(TokenError):
    """The session this refresh token continues began more than SESSION_MAX_LIFETIME ago."""


def session_deadline(auth_time: int) -> int:
    return auth_time + int(settings.SESSION_MAX_LIFETIME.total_seconds())


class RefreshToken(_SignedByKeyRing, tokens.RefreshToken):
    """Carries the user's claims, which its access tokens copy: token_type, exp, iat, jti, iss, aud, sub,
    user_id (= sub), username, is_staff, and auth_time, when the password was typed (kept across rotations;
    no token of the session outlives auth_time + SESSION_MAX_LIFETIME)."""

    access_token_class = AccessToken

    @classmethod
    def for_user(cls, user, *, auth_time: int | None = None) -> "RefreshToken":
        """A new session (auth_time None: now), or the next token of the session begun at auth_time."""
        token = cls()
        # user_id (as text) is the customer id in the transaction service; sub is the same, per RFC 7519.
        token["user_id"] = token["sub"] = str(user.pk)
        token["username"] = user.username
        token["is_staff"] = user.is_staff
        token["auth_time"] = int(time.time()) if auth_time is None else int(auth_time)
        token.payload["exp"] = min(token.payload["exp"], session_deadline(token["auth_time"]))
        token.outstand()  # recorded so that it can be blacklisted by jti later
        return token

    @property
    def auth_time(self) -> int:
        # Tokens issued before auth_time existed: their own issue time is the latest the session began.
        return int(self.payload.get("auth_time", self.payload["iat"]))

    def check_session_alive(self) -> None:
        if time.time() >= session_deadline(self.auth_time):
            raise SessionExpired("Session has ended; log in again")

    @property
    def access_token(self) -> AccessToken:
        access = super().access_token
        access.payload["exp"] = min(access.payload["exp"], session_deadline(self.auth_time))
        return access
