"""Secret key, hosts, cookies, HTTPS. Production refuses every development default at start."""

from django.core.exceptions import ImproperlyConfigured

from .environment import (
    ALLOWED_HOSTS_VALUE,
    CSRF_TRUSTED_ORIGINS_VALUE,
    IS_PRODUCTION,
    SECRET_KEY_VALUE,
    SSL_REDIRECT,
)

# Local runs only: refused above when ENVIRONMENT=production.
_DEVELOPMENT_SECRET_KEY = "django-insecure-local-development-only-never-use-in-production-0123456789"  # noqa: S105

if IS_PRODUCTION:
    if not SECRET_KEY_VALUE or "insecure" in SECRET_KEY_VALUE or len(SECRET_KEY_VALUE) < 50:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required when ENVIRONMENT=production: at least 50 random characters, "
            "not the development placeholder."
        )
    if not ALLOWED_HOSTS_VALUE:
        raise ImproperlyConfigured("ALLOWED_HOSTS is required when ENVIRONMENT=production (comma-separated).")

SECRET_KEY = SECRET_KEY_VALUE or _DEVELOPMENT_SECRET_KEY
# Outside production any Host is accepted (local runs, Compose service names). Probes are answered
# before host validation (auth_service.probes), so kubelet may call the pod by its IP.
ALLOWED_HOSTS = ALLOWED_HOSTS_VALUE or ([] if IS_PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = CSRF_TRUSTED_ORIGINS_VALUE

SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
SESSION_COOKIE_HTTPONLY = True

if IS_PRODUCTION:
    # TLS ends at the ingress, which sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is a decision for the domain's owner, submitted by hand; not this service's to make.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_SSL_REDIRECT = SSL_REDIRECT
# The transaction service fetches the JWKS over the cluster network, without TLS.
SECURE_REDIRECT_EXEMPT = [r"^api/auth/jwks/$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "auth_service.errors.csrf_failure"
