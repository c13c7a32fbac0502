"""RS256 key material: load the signing key, generate a local one once, publish public keys as JWKs."""

import base64
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured

MIN_KEY_BITS = 2048
_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def resolve_private_key_pem(*, inline: str, file: str, local_dir: Path | None) -> str:
    """The signing key: inline PEM, else the file named, else (local runs only) a key generated once."""
    if inline and file:
        raise ImproperlyConfigured("Give JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE, not both.")
    if inline:
        pem, source = inline, "JWT_PRIVATE_KEY"
    elif file:
        try:
            pem, source = Path(file).read_text(), f"JWT_PRIVATE_KEY_FILE ({file})"
        except OSError as exc:
            raise ImproperlyConfigured(f"JWT_PRIVATE_KEY_FILE cannot be read: {exc}") from exc
    elif local_dir is not None:
        pem, source = generate_private_key_once(local_dir / "jwt_private.pem"), "the generated local key"
    else:
        raise ImproperlyConfigured(
            "JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE is required when ENVIRONMENT=production."
        )
    load_private_key(pem, source)  # fail at start, not at the first login
    return pem


def load_private_key(pem: str, source: str = "private key") -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_KEY_BITS:
        raise ImproperlyConfigured(f"{source} must be an RSA key of at least {MIN_KEY_BITS} bits.")
    return key


def generate_private_key_once(path: Path) -> str:
    """Return the PEM at ``path``, creating it first if needed.

    Several gunicorn workers may start at once: each writes a complete key to a temporary file and
    hard-links it into place, which fails if another worker got there first; the loser reads the winner's
    key, so every worker signs with the same key.
    """
    if path.exists():
        return path.read_text()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwt_private.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path.read_text()


def public_pem(private_pem: str) -> str:
    public_key = load_private_key(private_pem).public_key()
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def read_public_keys_file(file: str) -> list[str]:
    """PEM public keys (one or more blocks) published besides the signing key, e.g. during a rotation."""
    if not file:
        return []
    try:
        blocks = _PEM_BLOCK.findall(Path(file).read_text())
    except OSError as exc:
        raise ImproperlyConfigured(f"JWT_EXTRA_PUBLIC_KEYS_FILE cannot be read: {exc}") from exc
    if not blocks:
        raise ImproperlyConfigured(f"JWT_EXTRA_PUBLIC_KEYS_FILE ({file}) holds no PEM public key.")
    for block in blocks:
        key = serialization.load_pem_public_key(block.encode())
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_KEY_BITS:
            raise ImproperlyConfigured(
                f"JWT_EXTRA_PUBLIC_KEYS_FILE: every key must be RSA of at least {MIN_KEY_BITS} bits."
            )
    return blocks


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(public_key_pem: str) -> dict[str, str]:
    """The JWK of an RSA public key, with ``kid`` = its RFC 7638 thumbprint (stable across restarts)."""
    numbers = serialization.load_pem_public_key(public_key_pem.encode()).public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    # RFC 7638: SHA-256 over the required members, sorted, without whitespace.
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": "RS256"}
