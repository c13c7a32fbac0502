"""Request ids (X-Request-ID, accepted or generated, echoed), one log line and the HTTP metrics per request."""

import logging
import re
import time
import uuid

from .log_records import request_id_var
from .metrics import HTTP_LATENCY, HTTP_REQUESTS
from .probes import PROBE_PATHS

logger = logging.getLogger("auth_service.request")
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}  # others: one "other" series


def _route(request) -> str:
    """The URL pattern, not the path: one time series per route, whatever ids the paths carry."""
    if request.path in PROBE_PATHS:
        return request.path
    match = getattr(request, "resolver_match", None)
    return "/" + match.route if match is not None and match.route else "unmatched"


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        # A caller's id travels on, unless it could smuggle something into the logs.
        request_id = incoming if _ACCEPTABLE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            duration = time.perf_counter() - started
            route = _route(request)
            method = request.method if request.method in _METHODS else "other"
            HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
            HTTP_LATENCY.labels(method, route).observe(duration)
            logger.log(
                # Probes come every few seconds; they would drown the requests people look for.
                logging.DEBUG if request.path in PROBE_PATHS else logging.INFO,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)
