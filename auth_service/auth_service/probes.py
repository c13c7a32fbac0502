"""Liveness (/health/), readiness (/ready/: the database answers) and Prometheus metrics (/metrics)."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse

from .errors import problem_response
from .metrics import exposition

logger = logging.getLogger(__name__)
HEALTH_PATH, READY_PATH, METRICS_PATH = "/health/", "/ready/", "/metrics"
PROBE_PATHS = (HEALTH_PATH, READY_PATH, METRICS_PATH)


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        # Drop the broken connection so the next probe reconnects instead of reusing it.
        connection.close()
        return False


class ProbeMiddleware:
    """Answers the probe paths itself, before host validation, HTTPS redirect, sessions and auth."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD"):
            if request.path == HEALTH_PATH:
                return JsonResponse({"status": "ok"})
            if request.path == READY_PATH:
                if database_reachable():
                    return JsonResponse({"status": "ready", "database": "ok"})
                return problem_response(
                    request, 503, "not_ready", "Not ready: the database does not answer.", database="unreachable"
                )
            if request.path == METRICS_PATH:
                body, content_type = exposition()
                return HttpResponse(body, content_type=content_type)
        elif request.path in PROBE_PATHS:  # served, just not with this method (not a 404)
            return problem_response(request, 405, "method_not_allowed",
                                    f"{request.method} is not allowed on {request.path}; use GET, HEAD.",
                                    headers={"Allow": "GET, HEAD"})
        return self.get_response(request)
