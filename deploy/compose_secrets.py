#!/usr/bin/env python3
"""The one-shot `secrets-init` service of docker-compose.yml: every secret the stack needs, generated once.

    python compose_secrets.py [--store /secrets] [--out /out]

The generated values live in the store volume (mounted by this service only), so they survive restarts
and `docker compose down`; `docker compose down -v` forgets them together with the database. A value
given in the environment (POSTGRES_PASSWORD, AUTH_DB_PASSWORD, TRANSACTIONS_DB_PASSWORD,
FRAUD_DB_PASSWORD, DJANGO_SECRET_KEY, INTERNAL_TOKEN, JWT_PRIVATE_KEY: from `.env`) replaces the stored
one. On every start each consumer gets the files it reads through its *_FILE variables, in a volume of
its own, readable by its user only: PostgreSQL (uid 999) its passwords, each service its database URL
and, as needed, the Django secret key, the JWT signing key and the internal token.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SERVICE_UID = 10001  # the user of the three service images
POSTGRES_UID = 999  # the user of the postgres image
DATABASE_HOST = "postgres:5432"


def random_token() -> str:
    return secrets.token_urlsafe(48)  # 64 characters, URL-safe: fits a database URL unquoted


def rsa_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


# Stored name: (environment variable that overrides it, generator).
SECRETS = {
    "postgres_password": ("POSTGRES_PASSWORD", random_token),
    "auth_db_password": ("AUTH_DB_PASSWORD", random_token),
    "transactions_db_password": ("TRANSACTIONS_DB_PASSWORD", random_token),
    "fraud_db_password": ("FRAUD_DB_PASSWORD", random_token),
    "django_secret_key": ("DJANGO_SECRET_KEY", random_token),
    "internal_token": ("INTERNAL_TOKEN", random_token),
    "jwt_private_key.pem": ("JWT_PRIVATE_KEY", rsa_private_key),
}


def database_url(role: str, password: str) -> str:
    # One database per service, named after its role (k8s/postgres/init-databases.sh creates both).
    return f"postgresql://{role}:{quote(password, safe='')}@{DATABASE_HOST}/{role}"


def consumers(values: dict[str, str]) -> dict[str, tuple[int, dict[str, str]]]:
    """Volume folder: (owner uid, {file name: content}), as docker-compose.yml mounts and names them."""
    return {
        "postgres": (POSTGRES_UID, {name: values[name] for name in (
            "postgres_password", "auth_db_password", "transactions_db_password", "fraud_db_password")}),
        "auth-service": (SERVICE_UID, {
            "database_url": database_url("auth", values["auth_db_password"]),
            "django_secret_key": values["django_secret_key"],
            "jwt_private_key.pem": values["jwt_private_key.pem"],
        }),
        "transaction-service": (SERVICE_UID, {
            "database_url": database_url("transactions", values["transactions_db_password"]),
            "internal_token": values["internal_token"],
        }),
        "fraud-detection-service": (SERVICE_UID, {
            "database_url": database_url("fraud", values["fraud_db_password"]),
            "internal_token": values["internal_token"],
        }),
    }


def write_private(path: Path, content: str, uid: int) -> None:
    """Replace ``path`` atomically with a file only ``uid`` can read (never readable by others in between)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(descriptor, "w") as file:
        file.write(content)
    os.chown(temporary, uid, uid)
    os.replace(temporary, path)


def settle(store: Path, environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each secret's value (override, else stored, else generated and stored) and what was generated."""
    store.chmod(0o700)
    values, generated = {}, []
    for name, (variable, generate) in SECRETS.items():
        path = store / name
        value = environ.get(variable, "").strip()
        if not value and path.exists():
            value = path.read_text()
        if not value:
            value = generate()
            generated.append(name)
        if not path.exists() or path.read_text() != value:
            write_private(path, value, 0)
        values[name] = value
    return values, generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path("/secrets"))
    parser.add_argument("--out", type=Path, default=Path("/out"))
    args = parser.parse_args(argv)
    values, generated = settle(args.store, dict(os.environ))
    for folder, (uid, files) in consumers(values).items():
        target = args.out / folder
        os.chown(target, uid, uid)
        target.chmod(0o700)
        for name, content in files.items():
            write_private(target / name, content, uid)
    print(f"secrets-init: generated {', '.join(generated)}" if generated else "secrets-init: secrets in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
