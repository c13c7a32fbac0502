"""Every environment variable the auth service reads, read once, here.

The other settings modules import these values instead of touching ``os.environ``. Names are shared with
the other services (see CONVENTIONS.md).
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

SERVICE_DIR = Path(__file__).resolve().parents[2]  # auth_service/
REPO_DIR = SERVICE_DIR.parent

env = environ.Env()


def secret(name: str) -> str:
    """NAME, or the contents of the file ``NAME_FILE`` names: how Docker and Compose hand secrets over,
    read as the official images read them (a trailing newline is dropped). Empty when neither is set."""
    value, path = env.str(name, default=""), env.str(f"{name}_FILE", default="")
    if value and path:
        raise ImproperlyConfigured(f"Give {name} or {name}_FILE, not both.")
    if not path:
        return value
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE cannot be read: {exc}") from exc


ENVIRONMENT = env.str("ENVIRONMENT", default="development").strip().lower()
IS_PRODUCTION = ENVIRONMENT == "production"

DATA_DIR = Path(env.str("DATA_DIR", default=str(REPO_DIR / "data"))).resolve()
LOG_FORMAT = env.str("LOG_FORMAT", default="text").strip().lower()
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()

SECRET_KEY_VALUE = secret("DJANGO_SECRET_KEY")
ALLOWED_HOSTS_VALUE = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS_VALUE = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Behind a TLS-terminating ingress in production; health, readiness and JWKS stay reachable over plain
# HTTP inside the cluster (probes and the transaction service call them directly).
SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
# How many proxies sit in front of the service: decides which X-Forwarded-For entry is the client IP for
# throttling. 0 trusts no header (a client could otherwise pick its own IP and dodge the limits).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

DATABASE_URL = secret("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'auth.sqlite3'}"
CACHE_URL = env.str("CACHE_URL", default="dbcache://auth_throttle_cache")

JWT_ISSUER = env.str("JWT_ISSUER", default="detec-fraude-auth")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="detec-fraude-api")
JWT_PRIVATE_KEY = env.str("JWT_PRIVATE_KEY", default="", multiline=True)
JWT_PRIVATE_KEY_FILE = env.str("JWT_PRIVATE_KEY_FILE", default="")
JWT_EXTRA_PUBLIC_KEYS_FILE = env.str("JWT_EXTRA_PUBLIC_KEYS_FILE", default="")
ACCESS_TOKEN_LIFETIME_MINUTES = env.int("ACCESS_TOKEN_LIFETIME_MINUTES", default=5)
REFRESH_TOKEN_LIFETIME_HOURS = env.int("REFRESH_TOKEN_LIFETIME_HOURS", default=24)

# Sessions: a refresh rotates, but never past SESSION_MAX_LIFETIME_HOURS after the password was typed.
SESSION_MAX_LIFETIME_HOURS = env.int("SESSION_MAX_LIFETIME_HOURS", default=168)

# Login guessing: per username+IP pair, free failures then a doubling delay; per IP, failures per window.
LOGIN_FAILURES_BEFORE_DELAY = env.int("LOGIN_FAILURES_BEFORE_DELAY", default=5)
LOGIN_DELAY_MAX_SECONDS = env.int("LOGIN_DELAY_MAX_SECONDS", default=900)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
# Registration: attempts per IP and failures per username, per window.
REGISTRATIONS_PER_IP = env.int("REGISTRATIONS_PER_IP", default=20)
REGISTRATION_FAILURES_PER_USERNAME = env.int("REGISTRATION_FAILURES_PER_USERNAME", default=5)
REGISTRATION_WINDOW_SECONDS = env.int("REGISTRATION_WINDOW_SECONDS", default=3600)
