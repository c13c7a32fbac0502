"""The service's own database: SQLite under DATA_DIR by default, PostgreSQL through DATABASE_URL."""

import os
from pathlib import Path

from .environment import DATA_DIR, DATABASE_URL, env

# Local state (SQLite files holding password hashes, generated keys): the owner's only.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _create_private(path: Path) -> None:
    """Create the file 0600 (an empty file is an empty SQLite database) or narrow an existing one to 0600,
    before SQLite opens it: SQLite would create it 0644, and gives its journal files the file's mode."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError:  # no such folder, not ours: SQLite says so, more clearly, when it opens the database
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


_default = env.db_url_config(DATABASE_URL)
if _default["ENGINE"] == "django.db.backends.sqlite3":
    if _default["NAME"] and _default["NAME"] != ":memory:" and not _default["NAME"].startswith("file:"):
        _create_private(Path(_default["NAME"]))
    # Several gunicorn workers write to one file: wait for the lock instead of failing at once.
    _default.setdefault("OPTIONS", {}).setdefault("timeout", 20)
else:
    _default.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)

DATABASES = {"default": _default}
