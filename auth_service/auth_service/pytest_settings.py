"""Settings for the test suite: the service's own settings, made hermetic.

Local state goes to a temporary DATA_DIR; the database is SQLite there, or, with POSTGRES_URL, a freshly
named database on that server that pytest-django creates and drops (conftest.py checks it is reachable).
"""

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

_DATA_DIR = tempfile.mkdtemp(prefix="auth-tests-")
atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)

# The caller's deployment settings must not leak into the tests.
for _name in (
    "DATABASE_URL", "CACHE_URL", "DJANGO_SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "NUM_PROXIES",
    "JWT_ISSUER", "JWT_AUDIENCE", "JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE", "JWT_EXTRA_PUBLIC_KEYS_FILE",
    "ACCESS_TOKEN_LIFETIME_MINUTES", "REFRESH_TOKEN_LIFETIME_HOURS", "LOG_FORMAT",
):
    os.environ.pop(_name, None)
os.environ.update(ENVIRONMENT="development", DATA_DIR=_DATA_DIR)

from auth_service.config.environment import env  # noqa: E402
from auth_service.settings import *  # noqa: E402, F403

POSTGRES_URL = os.environ.get("POSTGRES_URL", "")
if POSTGRES_URL:
    DATABASES = {
        "default": {
            **env.db_url_config(POSTGRES_URL),
            # Unique per run: suites of other checkouts or other runs may share the server.
            "TEST": {"NAME": f"test_auth_{uuid.uuid4().hex[:12]}"},
        }
    }
else:
    _sqlite = str(Path(_DATA_DIR) / "auth.sqlite3")
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _sqlite, "TEST": {"NAME": _sqlite}}
    }

# Argon2 still, with the cost turned down: the production parameters take ~0.4 s per hash on purpose,
# which would make this suite minutes long. users/tests/test_registration.py checks the production list.
PASSWORD_HASHERS = ["auth_service.testing.QuickArgon2PasswordHasher"]

# Hashed static names need `collectstatic` (start.sh, image build); the suite renders admin pages without.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT = Path(_DATA_DIR) / "static"
STATIC_ROOT.mkdir()
