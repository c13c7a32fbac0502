#!/usr/bin/env python3
"""Create the local secrets file once: DATA_DIR/local.env (git-ignored), and keep local state private.

`make run` and `make demo` load it for every variable the caller has not set, so `INTERNAL_TOKEN=… make run`
still wins. Values are random per machine and never leave the data folder. The JWT key pair is not here:
the auth service generates its own into DATA_DIR/keys/ on first start.

Everything here is the owner's only: DATA_DIR is 0700, local.env is created 0600 (never readable by others,
not even for a moment), and the three services' SQLite files, which hold password hashes and payments, are
created 0600 before the services open them (SQLite gives its journal files the database file's mode).
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

GENERATED = {
    "INTERNAL_TOKEN": lambda: secrets.token_urlsafe(32),
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    # The local fraud analyst account (staff) that make run creates for the demo and the admin.
    "LOCAL_STAFF_USERNAME": lambda: "analyst",
    "LOCAL_STAFF_PASSWORD": lambda: secrets.token_urlsafe(12),
}
# The services' default databases under DATA_DIR (CONVENTIONS.md, "Local state").
SQLITE_FILES = ("auth.sqlite3", "transactions.sqlite3", "fraud.sqlite3")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def private_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # an older checkout made it 0755


def private_file(path: Path) -> None:
    """Create the file empty and 0600, or narrow an existing one to 0600 (an empty file is an empty
    SQLite database)."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def ensure_local_env(data_dir: Path, *, sqlite: bool = True) -> Path:
    """Write the missing generated values into data_dir/local.env; keep the ones already there."""
    private_data_dir(data_dir)
    path = data_dir / "local.env"
    values = read_env_file(path) if path.exists() else {}
    missing = {key: make() for key, make in GENERATED.items() if key not in values}
    if missing:
        values.update(missing)
        # mkstemp creates the file 0600 whatever the umask; it replaces local.env only once complete.
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".local.env.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write("# Generated once by scripts/local_env.py for local runs. Not for production.\n")
                handle.writelines(f"{key}={value}\n" for key, value in values.items())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    if sqlite:
        for name in SQLITE_FILES:
            private_file(data_dir / name)
    return path


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    data_dir = Path(os.environ.get("DATA_DIR") or root / "data")
    # A DATABASE_URL of the caller's means the services do not use the SQLite files.
    path = ensure_local_env(data_dir, sqlite=not os.environ.get("DATABASE_URL"))
    print(path, file=sys.stderr if "--quiet" in sys.argv else sys.stdout)
