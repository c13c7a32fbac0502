"""Per-user request limits (capture, listing): a token bucket per user, in this process's memory."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class RateLimiter:
    """`per_minute` requests a minute per user, of which up to `per_minute` may come at once (a full bucket).

    0 turns the limit off. Buckets of the least recently seen users are dropped beyond `max_users`: a user
    idle long enough to be the oldest of that many has a full bucket again anyway, so memory stays bounded
    without changing what anyone is allowed. Safe from the event loop and worker threads at once.
    """

    def __init__(self, per_minute: int, *, max_users: int = 100_000, clock=time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_users = max_users
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # user -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def check(self, user_id: str) -> None:
        """Take one request from user_id's bucket, or raise RateLimited with the seconds to wait."""
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(user_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens < 1:
                self._buckets[user_id] = (tokens, now)
                raise RateLimited(max(1, math.ceil((1 - tokens) / self.rate)))
            self._buckets[user_id] = (tokens - 1, now)
            while len(self._buckets) > self.max_users:
                self._buckets.popitem(last=False)
