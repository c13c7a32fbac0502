"""The one client for the fraud detection service: timeouts, deadline, one retry, circuit breaker.

Callers get either a validated `FraudDecision` or a `FraudServiceUnavailable` naming why; deciding what
to do without a model decision (the fallback policy) is the caller's job. Only timeouts, transport errors
and 5xx count against the circuit breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

import aiohttp
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import to_json
from typing_extensions import TypedDict

from app.clients.circuit_breaker import CircuitBreaker
from app.core.metrics import FRAUD_CALL_ROWS, FRAUD_SERVICE_ERRORS
from app.statuses import Decision
from fastapi_plumbing.logging import request_id

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Idle connections are kept 4 s, under uvicorn's 5 s keep-alive, so the server does not close one just as it is
# reused. At most 100 at once (aiohttp's and httpx's default): beyond that a call waits for a free connection
# within its deadline instead of opening sockets without bound.
KEEPALIVE_SECONDS = 4.0
MAX_CONNECTIONS = 100


class Contribution(TypedDict):
    """One model feature's share of the score, as the fraud service computed it (stored unchanged)."""

    feature: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[float, Field(allow_inf_nan=False)]
    contribution: Annotated[float, Field(allow_inf_nan=False)]


class FraudDecision(BaseModel):
    """The part of a /predict answer we rely on; anything else in it is ignored."""

    transaction_id: str
    decision: Decision
    risk_score: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    reasons: list[Annotated[str, Field(max_length=500)]] = Field(max_length=50)
    model_version: Annotated[str, Field(min_length=1, max_length=128)]
    # A TypedDict validates to plain dicts: nothing to convert before they are stored as JSON.
    contributions: list[Contribution] = Field(default_factory=list, max_length=100)


class FraudServiceUnavailable(Exception):
    """No usable answer: down, slow, 5xx, refused, malformed, or the circuit is open."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FraudRequestRefused(FraudServiceUnavailable):
    """A 4xx: the service refused this request (a batch is refused whole for one bad row)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _Retryable(FraudServiceUnavailable):
    def __init__(self, reason: str, *, breaker_failure: bool = True) -> None:
        super().__init__(reason)
        self.breaker_failure = breaker_failure


class FraudClient:
    """One aiohttp session for every call, created on the event loop it runs on (make the client in the
    lifespan, close it with ``aclose``). aiohttp, not httpx: measured here, an httpx.AsyncClient POST cost
    0.8 ms of CPU, an aiohttp one 0.1 ms, and this call is the largest part of a capture.

    Every decision awaits ``apredict`` on the loop (capture and the PENDING rescue alike): the call is pure
    waiting and must not hold a worker thread (16 threads blocked on sockets made capture GIL-bound). Worker
    threads (label delivery) call ``send_feedback``, which runs the same coroutine on that loop and waits for
    it, so there is one connection pool and one retry/deadline/breaker policy.
    """

    def __init__(
        self,
        base_url: str,
        internal_token: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        deadline: float,
        retry_backoff: float,
        breaker: CircuitBreaker,
    ) -> None:
        self._loop = asyncio.get_running_loop()  # raises outside a running loop: the session belongs to one
        self._loop_thread = threading.get_ident()
        base_url = base_url.rstrip("/")
        self._base_url = base_url
        self._urls = {path: f"{base_url}{path}" for path in ("/predict", "/predict/batch", "/feedback")}
        self._session = aiohttp.ClientSession(
            headers={"X-Internal-Token": internal_token},
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS),
        )
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.retry_backoff = retry_backoff
        self.breaker = breaker

    async def aclose(self) -> None:
        await self._session.close()

    async def apredict(self, payload: dict[str, Any]) -> FraudDecision:
        FRAUD_CALL_ROWS.observe(1)
        return self._decision(await self._call("/predict", payload), payload)

    async def apredict_batch(self, payloads: list[dict[str, Any]]) -> list[FraudDecision | FraudServiceUnavailable]:
        """Score several transactions in one /predict/batch call, under the same timeouts, deadline, retry
        and breaker as one /predict. Raises FraudServiceUnavailable when the call fails (every row without
        an answer; FraudRequestRefused for a 4xx); otherwise one entry per payload, in order: its row's
        validated decision, or FraudServiceUnavailable when its row is malformed or missing."""
        FRAUD_CALL_ROWS.observe(len(payloads))
        content = await self._call("/predict/batch", {"transactions": payloads})
        try:
            # The whole answer validated in one pass (the common case); row by row only when that fails.
            rows = _BatchAnswer.model_validate_json(content).results
        except ValidationError:
            rows = _valid_rows(content)
        by_id = {row.transaction_id: row for row in rows}
        answers: list[FraudDecision | FraudServiceUnavailable] = []
        for payload in payloads:
            decision = by_id.get(payload["transaction_id"])
            if decision is None:
                self._failed("malformed", breaker_failure=False)
                answers.append(FraudServiceUnavailable("malformed answer (no valid row for this transaction_id)"))
            else:
                answers.append(decision)
        if by_id:
            self.breaker.record_success()  # the service answered; a bad row is about that row alone
        return answers

    async def asend_feedback(self, payload: dict[str, Any]) -> None:
        await self._call("/feedback", payload)
        self.breaker.record_success()

    async def aread(self, path: str) -> tuple[int, str, bytes]:
        """GET one of the fraud service's internal read endpoints (the model card for the console): status,
        content type and body. Outside the breaker and without a retry: no decision depends on it."""
        headers: dict[str, str] = {}
        rid = request_id.get()
        if rid != "-":
            headers["X-Request-ID"] = rid
        timeout = aiohttp.ClientTimeout(total=self.deadline, sock_connect=self.connect_timeout,
                                        sock_read=self.read_timeout)
        try:
            with _transport_errors():
                async with self._session.get(self._base_url + path, headers=headers, timeout=timeout) as response:
                    return response.status, response.content_type, await response.read()
        except _Retryable as exc:
            raise FraudServiceUnavailable(exc.reason) from None

    def send_feedback(self, payload: dict[str, Any]) -> None:
        self._wait(self.asend_feedback, payload)

    def _wait(self, call: Callable[[dict[str, Any]], Awaitable[T]], payload: dict[str, Any]) -> T:
        if threading.get_ident() == self._loop_thread:
            # Blocking the loop's own thread on work scheduled on that loop would wait for ever.
            raise RuntimeError("FraudClient's blocking calls are for worker threads; await the a* methods")
        # The coroutine runs in a copy of this thread's context, so the request id travels with it.
        return asyncio.run_coroutine_threadsafe(call(payload), self._loop).result()

    def _decision(self, content: bytes, payload: dict[str, Any]) -> FraudDecision:
        try:
            # Parsed and validated in one pass by pydantic-core: json.loads first, then model_validate on the
            # dicts, cost twice as much CPU for an answer with a contribution per model feature.
            decision = FraudDecision.model_validate_json(content)
        except ValidationError as exc:
            self._failed("malformed", breaker_failure=False)
            raise _malformed(exc) from None
        if decision.transaction_id != payload["transaction_id"]:
            self._failed("malformed", breaker_failure=False)
            raise FraudServiceUnavailable("malformed answer (transaction_id does not match the request)")
        self.breaker.record_success()
        return decision

    async def _call(self, path: str, payload: dict[str, Any]) -> bytes:
        """POST with at most one retry inside the overall deadline; returns the answer's body (2xx)."""
        headers, started = self._begin()
        # Encoded here, once for both tries: aiohttp's json= goes through its payload registry's slow path.
        body = to_json(payload)
        for attempt in (1, 2):
            try:
                timeout = self._attempt_timeout(started)
                with _transport_errors():
                    async with self._session.post(self._urls[path], data=body, headers=headers,
                                                  timeout=timeout) as response:
                        status, content = response.status, await response.read()
                return self._body(status, content)
            except _Retryable as exc:
                await asyncio.sleep(self._backoff_or_fail(path, exc, attempt, started))
        raise AssertionError("unreachable")

    def _begin(self) -> tuple[dict[str, str], float]:
        if not self.breaker.allow():
            FRAUD_SERVICE_ERRORS.labels(reason="circuit_open").inc()
            raise FraudServiceUnavailable("circuit open")
        rid = request_id.get()
        headers = {"Content-Type": "application/json"}  # exactly so: the fraud service's lean /predict path
        if rid != "-":
            headers["X-Request-ID"] = rid
        return headers, time.monotonic()

    def _attempt_timeout(self, started: float) -> aiohttp.ClientTimeout:
        remaining = self.deadline - (time.monotonic() - started)
        if remaining <= 0:
            raise _Retryable("timeout (deadline exceeded)")
        # total: what is left of the deadline bounds this try whole (waiting for a pooled connection too).
        return aiohttp.ClientTimeout(total=remaining, sock_connect=self.connect_timeout, sock_read=self.read_timeout)

    def _backoff_or_fail(self, path: str, exc: _Retryable, attempt: int, started: float) -> float:
        """The pause before the second try, or FraudServiceUnavailable when there is none left."""
        # Scoring and feedback are idempotent by transaction id, so a second try is safe.
        backoff = random.uniform(0, self.retry_backoff)
        if attempt == 2 or self.deadline - (time.monotonic() - started) - backoff < 0.05:
            self._failed(exc.reason.split(" ")[0], breaker_failure=exc.breaker_failure)
            raise FraudServiceUnavailable(exc.reason) from None
        logger.info("fraud service %s failed (%s); retrying once", path, exc.reason)
        return backoff

    def _body(self, status: int, content: bytes) -> bytes:
        if status >= 500:
            raise _Retryable(f"http_{status}")
        if status == 429:
            # Worth a second try, but an answer all the same: not a sign the service is down.
            raise _Retryable("http_429", breaker_failure=False)
        if status >= 400:
            # A 4xx will not get better by retrying (bad token, bad payload): fail now.
            self._failed(f"http_{status}", breaker_failure=False)
            raise FraudRequestRefused(status, f"http_{status}: {content.decode('utf-8', 'replace')[:200]}")
        return content

    def _failed(self, reason: str, *, breaker_failure: bool) -> None:
        """Count a failed call; only timeouts, transport errors and 5xx (breaker_failure) say the service
        is down. Anything else is an answer about this one request: counting it would let a caller who can
        provoke it (a payload the service refuses) open the circuit and switch fraud checks off for all."""
        FRAUD_SERVICE_ERRORS.labels(reason=reason).inc()
        if breaker_failure:
            self.breaker.record_failure()
        else:
            self.breaker.record_answer()


class _BatchAnswer(BaseModel):
    results: list[FraudDecision]


def _malformed(exc: ValidationError) -> FraudServiceUnavailable:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return FraudServiceUnavailable("malformed answer (not JSON)")
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return FraudServiceUnavailable(f"malformed answer ({field}: {first['msg']})")


def _valid_rows(content: bytes) -> list[FraudDecision]:
    """The rows of a batch answer that failed validation as a whole, each validated on its own, so a
    malformed row fails only its own transaction (logged here: its transaction id may be what is wrong)."""
    try:
        results = json.loads(content).get("results")
    except (ValueError, AttributeError):
        results = None
    if not isinstance(results, list):
        logger.warning("fraud service: malformed batch answer (no list of results)")
        return []
    rows: list[FraudDecision] = []
    for row in results:
        try:
            rows.append(FraudDecision.model_validate(row))
        except ValidationError as exc:
            logger.warning("fraud service: a malformed row in a batch answer: %s", _malformed(exc).reason)
    return rows


@contextlib.contextmanager
def _transport_errors() -> Iterator[None]:
    """aiohttp's transport failures as the retryable reasons we log and count."""
    try:
        yield
    except TimeoutError:
        # ServerTimeoutError (connect or read) is both a ClientError and a TimeoutError, so it goes first;
        # the per-try total raises a bare (asyncio.)TimeoutError.
        raise _Retryable("timeout") from None
    except aiohttp.ClientError as exc:
        # ClientConnectorError (refused, no route), ServerDisconnectedError, ClientOSError, ClientPayloadError
        # (body cut short), or an answer that is not HTTP at all.
        raise _Retryable(f"unreachable ({type(exc).__name__})") from None
