"""The one client for the fraud detection service: timeouts, deadline, one retry, circuit breaker.

Callers get either a validated `FraudDecision` or a `FraudServiceUnavailable` naming why; deciding what
to do without a model decision (the fallback policy) is the caller's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, Field, ValidationError

from app.clients.circuit_breaker import CircuitBreaker
from app.core.logging import request_id_var
from app.metrics import FRAUD_SERVICE_ERRORS

logger = logging.getLogger(__name__)


class FraudDecision(BaseModel):
    """The part of a /predict answer we rely on; anything else in it is ignored."""

    transaction_id: str
    decision: Literal["APPROVED", "BLOCKED"]
    risk_score: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    reasons: list[Annotated[str, Field(max_length=500)]] = Field(max_length=50)
    model_version: Annotated[str, Field(min_length=1, max_length=128)]


class FraudServiceUnavailable(Exception):
    """No usable answer: down, slow, 5xx, refused, malformed, or the circuit is open."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Retryable(FraudServiceUnavailable):
    pass


class FraudClient:
    """Sync calls for the background loop and label delivery (worker threads), async ``apredict`` for the
    capture route: its fraud call is pure waiting and must not hold a worker thread (measured: 16 threads
    blocked on sockets made capture GIL-bound). Both share one retry/deadline/breaker policy."""

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
        options = {
            "base_url": base_url.rstrip("/"),
            "headers": {"X-Internal-Token": internal_token},
            "timeout": httpx.Timeout(read_timeout, connect=connect_timeout),
        }
        self._http = httpx.Client(**options)
        self._ahttp = httpx.AsyncClient(**options)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.retry_backoff = retry_backoff
        self.breaker = breaker

    async def aclose(self) -> None:
        await self._ahttp.aclose()
        self._http.close()

    def predict(self, payload: dict[str, Any]) -> FraudDecision:
        return self._decision(self._call("/predict", payload), payload)

    async def apredict(self, payload: dict[str, Any]) -> FraudDecision:
        return self._decision(await self._acall("/predict", payload), payload)

    def send_feedback(self, payload: dict[str, Any]) -> None:
        self._call("/feedback", payload)
        self.breaker.record_success()

    def _decision(self, body: Any, payload: dict[str, Any]) -> FraudDecision:
        try:
            decision = FraudDecision.model_validate(body)
        except ValidationError as exc:
            # Counted as a failure: a service answering nonsense is as broken as one not answering.
            self._failed("malformed")
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise FraudServiceUnavailable(f"malformed answer ({field}: {first['msg']})") from None
        if decision.transaction_id != payload["transaction_id"]:
            self._failed("malformed")
            raise FraudServiceUnavailable("malformed answer (transaction_id does not match the request)")
        self.breaker.record_success()
        return decision

    def _call(self, path: str, payload: dict[str, Any]) -> Any:
        """POST with at most one retry inside the overall deadline; returns the decoded JSON body."""
        headers, started = self._begin()
        for attempt in (1, 2):
            try:
                timeout = self._attempt_timeout(started)
                with _transport_errors():
                    response = self._http.post(path, json=payload, headers=headers, timeout=timeout)
                return self._body(response)
            except _Retryable as exc:
                time.sleep(self._backoff_or_fail(path, exc, attempt, started))
        raise AssertionError("unreachable")

    async def _acall(self, path: str, payload: dict[str, Any]) -> Any:
        """The same as _call, awaiting instead of blocking."""
        headers, started = self._begin()
        for attempt in (1, 2):
            try:
                timeout = self._attempt_timeout(started)
                with _transport_errors():
                    response = await self._ahttp.post(path, json=payload, headers=headers, timeout=timeout)
                return self._body(response)
            except _Retryable as exc:
                await asyncio.sleep(self._backoff_or_fail(path, exc, attempt, started))
        raise AssertionError("unreachable")

    def _begin(self) -> tuple[dict[str, str], float]:
        if not self.breaker.allow():
            FRAUD_SERVICE_ERRORS.labels(reason="circuit_open").inc()
            raise FraudServiceUnavailable("circuit open")
        request_id = request_id_var.get()
        return ({"X-Request-ID": request_id} if request_id != "-" else {}), time.monotonic()

    def _attempt_timeout(self, started: float) -> httpx.Timeout:
        remaining = self.deadline - (time.monotonic() - started)
        if remaining <= 0:
            raise _Retryable("timeout (deadline exceeded)")
        return httpx.Timeout(min(self.read_timeout, remaining), connect=min(self.connect_timeout, remaining))

    def _backoff_or_fail(self, path: str, exc: _Retryable, attempt: int, started: float) -> float:
        """The pause before the second try, or FraudServiceUnavailable when there is none left."""
        # Scoring and feedback are idempotent by transaction id, so a second try is safe.
        backoff = random.uniform(0, self.retry_backoff)
        if attempt == 2 or self.deadline - (time.monotonic() - started) - backoff < 0.05:
            self._failed(exc.reason.split(" ")[0])
            raise FraudServiceUnavailable(exc.reason) from None
        logger.info("fraud service %s failed (%s); retrying once", path, exc.reason)
        return backoff

    def _body(self, response: httpx.Response) -> Any:
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retryable(f"http_{response.status_code}")
        if response.status_code >= 400:
            # A 4xx will not get better by retrying (bad token, bad payload): fail now.
            self._failed(f"http_{response.status_code}")
            raise FraudServiceUnavailable(f"http_{response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            self._failed("malformed")
            raise FraudServiceUnavailable("malformed answer (not JSON)") from None

    def _failed(self, reason: str) -> None:
        FRAUD_SERVICE_ERRORS.labels(reason=reason).inc()
        self.breaker.record_failure()


@contextlib.contextmanager
def _transport_errors() -> Iterator[None]:
    """httpx's transport failures as the retryable reasons we log and count."""
    try:
        yield
    except httpx.TimeoutException:
        raise _Retryable("timeout") from None
    except httpx.TransportError as exc:
        raise _Retryable(f"unreachable ({type(exc).__name__})") from None
