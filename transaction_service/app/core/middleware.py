"""Request context: X-Request-ID (accepted or generated, echoed), one log line and metrics per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var
from app.metrics import HTTP_LATENCY, HTTP_REQUESTS

logger = logging.getLogger("app.requests")
# A caller's id is reused only when it cannot smuggle anything odd into logs or headers.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # The route template, not the raw path, keeps metric labels bounded.
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(method=scope["method"], route=route, status=str(status)).inc()
            HTTP_LATENCY.labels(method=scope["method"], route=route).observe(elapsed)
            logger.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000)
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """413 with a JSON body when the request body exceeds the limit, declared or streamed.

    A declared Content-Length is refused before a byte is read; a body streamed without one is
    counted as it arrives, and the HTTPException raised mid-read reaches FastAPI's JSON error handler.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"Request body too large (limit {self.max_body_bytes} bytes)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            error = self._too_large()
            await JSONResponse(status_code=413, content={"detail": error.detail})(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counting_receive, send)
