"""Access-token verification: RS256 only, signature, exp, iss, aud and token_type all checked locally."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from app.auth.jwks import JWKSCache


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    is_staff: bool


def verify_access_token(token: str, jwks: JWKSCache, *, issuer: str, audience: str, leeway: int,
                        may_fetch: bool = True) -> Principal:
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
    key = jwks.get_key(kid, may_fetch=may_fetch)
    if key is None:
        raise InvalidToken("unknown signing key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    if claims.get("token_type") != "access":
        raise InvalidToken("not an access token")
    user_id = claims.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, int | str) or str(user_id) == "":
        raise InvalidToken("token has no user_id")
    return Principal(
        user_id=str(user_id),
        username=str(claims.get("username", "")),
        is_staff=claims.get("is_staff") is True,
    )
