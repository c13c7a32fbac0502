#!/usr/bin/env python3
"""Create the Compose settings once: `.env` from `.env.example` and the JWT signing key.

Every `change-me` placeholder becomes a random value; values already in `.env` are kept, so re-running is
safe and an operator's own values always win. The RS256 private key is written to JWT_PRIVATE_KEY_PATH
(default `data/compose/jwt_private.pem`, git-ignored). Called by `scripts/compose.sh`.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from local_env import read_env_file  # same KEY=value format as the local secrets file

PLACEHOLDER = "change-me"
DEFAULT_KEY_PATH = "./data/compose/jwt_private.pem"


def ensure_env_file(env_file: Path, example: Path) -> list[str]:
    """Write env_file from the example (or complete it); return the names that got a random value."""
    text = env_file.read_text() if env_file.exists() else example.read_text()
    generated, lines = [], []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and value.strip() == PLACEHOLDER:
            # Hex: safe inside database URLs and shell without quoting; 64 characters satisfy Django's
            # production check (at least 50) and everyone else's.
            line = f"{key}={secrets.token_hex(32)}"
            generated.append(key.strip())
        lines.append(line)
    if generated or not env_file.exists():
        tmp = env_file.with_name(env_file.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.chmod(0o600)
        tmp.replace(env_file)
    return generated


def ensure_jwt_key(path: Path) -> bool:
    """Write a new RS256 private key to path unless one exists; return whether one was written."""
    if path.exists():
        return False
    # The folder is private to its owner; the file itself must be readable by the container's user
    # (uid 10001), which does not exist on the host and sees only the bind-mounted file.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o644)
    tmp.replace(path)
    return True


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-file", type=Path, default=root / ".env")
    parser.add_argument("--example", type=Path, default=root / ".env.example")
    args = parser.parse_args(argv)

    generated = ensure_env_file(args.env_file, args.example)
    if generated:
        print(f"{args.env_file}: random values for {', '.join(generated)}")
    key_path = Path(read_env_file(args.env_file).get("JWT_PRIVATE_KEY_PATH") or DEFAULT_KEY_PATH)
    if not key_path.is_absolute():
        # Compose resolves relative paths against the project folder, where .env lives.
        key_path = args.env_file.resolve().parent / key_path
    if ensure_jwt_key(key_path):
        print(f"{key_path}: new RS256 signing key")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
