#!/usr/bin/env python3
"""Create the local secrets file once: DATA_DIR/local.env (git-ignored).

`make run` and `make demo` load it for every variable the caller has not set, so `INTERNAL_TOKEN=… make run`
still wins. Values are random per machine and never leave the data folder. The JWT key pair is not here:
the auth service generates its own into DATA_DIR/keys/ on first start.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

GENERATED = {
    "INTERNAL_TOKEN": lambda: secrets.token_urlsafe(32),
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    # The local fraud analyst account (staff) that make run creates for the demo and the admin.
    "LOCAL_STAFF_USERNAME": lambda: "analyst",
    "LOCAL_STAFF_PASSWORD": lambda: secrets.token_urlsafe(12),
}


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def ensure_local_env(data_dir: Path) -> Path:
    """Write the missing generated values into data_dir/local.env; keep the ones already there."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "local.env"
    values = read_env_file(path) if path.exists() else {}
    missing = {key: make() for key, make in GENERATED.items() if key not in values}
    if missing:
        values.update(missing)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            "# Generated once by scripts/local_env.py for local runs. Not for production.\n"
            + "".join(f"{key}={value}\n" for key, value in values.items())
        )
        tmp.chmod(0o600)
        tmp.replace(path)
    return path


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    data_dir = Path(os.environ.get("DATA_DIR") or root / "data")
    print(ensure_local_env(data_dir), file=sys.stderr if "--quiet" in sys.argv else sys.stdout)
