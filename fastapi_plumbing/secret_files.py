"""Secrets given as files: ``NAME_FILE=/path`` instead of ``NAME``, the way Docker and Compose hand them over
and the official images read them."""

from __future__ import annotations

import os
from pathlib import Path

# Settings of both services that may come from a file (a Compose or Kubernetes secret).
SECRET_FILE_SETTINGS = ("DATABASE_URL", "INTERNAL_TOKEN")


def read_secret_files(data: dict, names: tuple[str, ...] = SECRET_FILE_SETTINGS) -> dict:
    """Fill each setting NAME from the file ``NAME_FILE`` names, when that variable is set (a trailing
    newline is dropped). Both at once, or an unreadable file, is refused naming the variable."""
    for name in names:
        path = os.environ.get(f"{name}_FILE")
        if not path:
            continue
        if data.get(name):
            raise ValueError(f"give {name} or {name}_FILE, not both")
        try:
            data[name] = Path(path).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"{name}_FILE cannot be read: {exc}") from exc
    return data
