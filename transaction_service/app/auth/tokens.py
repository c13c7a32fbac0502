"""Access-token verification: RS256 only, signature, exp, iss, aud and token_type all checked locally;
tokens that passed are remembered so a client reusing its token does not pay the RSA check every request."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from app.auth.jwks import JWKSCache


class InvalidToken(Exception):
    code = "invalid_token"


class TokenExpired(InvalidToken):
    code = "token_expired"


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    is_staff: bool


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    kid: str
    key: jwt.PyJWK
    expires_at: int


class AccessTokenVerifier:
    """Verifies access tokens against the JWKS, with a bounded cache of those that passed.

    The cache never accepts what a full check would refuse. On every use it re-checks what can change after
    a token was verified: the time (exp, with the same leeway) and the key (its kid must still resolve to
    the very key object that verified it, so a key retired from or replaced in the JWKS sends the token back
    through the full check, which refuses it; a periodic JWKS refresh makes new key objects, so it costs
    each token one more full check). Only tokens that passed are stored, under their exact text,
    so a forged or tampered token never has an entry. Oldest entries are evicted beyond ``cache_size``
    (0 turns the cache off). Safe to call from the event loop and from worker threads at once.
    """

    def __init__(self, jwks: JWKSCache, *, issuer: str, audience: str, leeway: int, cache_size: int) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.cache_size = cache_size
        self._lock = threading.Lock()
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    def verify(self, token: str, *, may_fetch: bool = True) -> Principal:
        """The token's principal, or InvalidToken. With may_fetch=False (on the event loop) a needed JWKS
        fetch raises FetchNeeded instead of blocking (see JWKSCache.get_key)."""
        with self._lock:
            cached = self._verified.get(token)
        if cached is not None:
            # The comparison PyJWT makes for exp (a token is expired once exp <= now - leeway).
            unexpired = time.time() - self.leeway < cached.expires_at
            if unexpired and self.jwks.get_key(cached.kid, may_fetch=may_fetch) is cached.key:
                return cached.principal
            with self._lock:
                self._verified.pop(token, None)
        verified = self._verify(token, may_fetch=may_fetch)
        if self.cache_size:
            with self._lock:
                self._verified[token] = verified
                while len(self._verified) > self.cache_size:
                    self._verified.popitem(last=False)
        return verified.principal

    def _verify(self, token: str, *, may_fetch: bool) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        # Checked before any key lookup: "none" and HS256-with-the-public-key never reach a verifier.
        if header.get("alg") != "RS256":
            raise InvalidToken("unsupported algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        key = self.jwks.get_key(kid, may_fetch=may_fetch)
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("token expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
        if claims.get("token_type") != "access":
            raise InvalidToken("not an access token")
        user_id = claims.get("user_id")
        if isinstance(user_id, bool) or not isinstance(user_id, int | str) or str(user_id) == "":
            raise InvalidToken("token has no user_id")
        principal = Principal(
            user_id=str(user_id),
            username=str(claims.get("username", "")),
            is_staff=claims.get("is_staff") is True,
        )
        # PyJWT accepted exp, so it is an integer (or a string or float that int() takes, as PyJWT did).
        return _Verified(principal, kid, key, int(claims["exp"]))
