"""Pure ASGI middleware (cheaper per request than BaseHTTPMiddleware): request id, metrics and request
log, and the body size limit."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id
from app.core.metrics import LATENCY, REQUESTS

logger = logging.getLogger("app.request")

# A caller's id is echoed and logged, so keep it to a safe alphabet and length.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID from the caller, else a new one), echoes it, times the
    request into the Prometheus metrics by route template, and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")  # template, not the raw path
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            logger.info("%s %s %s %.1fms", scope["method"], scope["path"], status, elapsed * 1000)
            request_id.reset(token)


class BodySizeLimitMiddleware:
    """Answers 413 for a body above ``max_bytes``: at once from Content-Length, or as soon as a
    streamed body passes the limit (before the route reads it whole)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self._message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._too_large(send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": [{"field": "body", "message": self._message()}]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI, which turns other errors while reading a body into 400,
    lets it through to the exception handlers as a 413."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)
