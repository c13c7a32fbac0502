"""Prometheus metrics of the auth service, exposed at /metrics (answered by auth_service.probes).

gunicorn runs several worker processes: start.sh sets PROMETHEUS_MULTIPROC_DIR so that every worker
writes its samples there and any worker's /metrics answers for all of them (prometheus_client's
multiprocess mode). Without it (tests, manage.py runserver) the process's own registry is served.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "auth_http_requests_total", "HTTP requests by route pattern and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "auth_http_request_duration_seconds",
    "HTTP request latency by route pattern (logins take ~0.4 s: Argon2 is slow on purpose)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LOGINS = Counter("auth_logins_total", "Successful logins", ["via"])
LOGIN_FAILURES = Counter("auth_login_failures_total", "Logins refused for wrong credentials", ["via"])
LOGIN_LOCKOUTS = Counter(
    "auth_login_lockouts_total",
    "Times a username+IP pair (scope=username_ip) or an IP (scope=ip) was made to wait before its next try",
    ["via", "scope"],
)
LOGIN_DELAYED = Counter(
    "auth_login_delayed_total", "Login attempts refused (429) because their username+IP or IP must wait", ["via"]
)
PASSWORD_CHANGES = Counter("auth_password_changes_total", "Passwords changed by their owner")


def exposition() -> tuple[bytes, str]:
    """The metrics text and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
