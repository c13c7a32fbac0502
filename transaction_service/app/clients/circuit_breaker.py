"""A small thread-safe circuit breaker: stop calling a service that keeps failing, probe it later."""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    """Closed → (threshold consecutive failures) → open for reset_seconds → one probe call (half-open)."""

    def __init__(self, failure_threshold: int, reset_seconds: float, clock=time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self.reset_seconds else "open"

    def allow(self) -> bool:
        """True when a call may go out; in half-open state only one probe at a time is let through."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self.reset_seconds or self._probe_in_flight:
                return False
            self._probe_in_flight = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probe_in_flight = False

    def record_answer(self) -> None:
        """The service answered, but the answer says nothing about its health (a 4xx, a malformed body):
        counts neither way, only frees the half-open probe slot so the next call can probe."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probe_in_flight = False
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
