"""The service's own database: SQLite under DATA_DIR by default, PostgreSQL through DATABASE_URL."""

from .environment import DATA_DIR, DATABASE_URL, env

DATA_DIR.mkdir(parents=True, exist_ok=True)

_default = env.db_url_config(DATABASE_URL)
if _default["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers write to one file: wait for the lock instead of failing at once.
    _default.setdefault("OPTIONS", {}).setdefault("timeout", 20)
else:
    _default.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)

DATABASES = {"default": _default}
