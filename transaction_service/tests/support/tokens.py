"""Test RSA keys, the JWKS document that publishes them, and access tokens (honest and hostile)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "detec-fraude-auth"
AUDIENCE = "detec-fraude-api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self) -> dict:
        entry = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**entry, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict, headers: dict | None = None) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})})


def claims_for(user_id: int, *, is_staff: bool = False, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "token_type": "access",
        "user_id": user_id,
        "sub": str(user_id),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "username": f"user{user_id}",
        "is_staff": is_staff,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def unsigned_token(claims: dict, kid: str) -> str:
    """alg "none": a token with no signature at all."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict, key: SigningKey) -> str:
    """The algorithm-confusion attack: HMAC-signed with the (public) verifying key as the secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
