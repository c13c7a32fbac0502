"""Fixed-window counters in the shared cache, keyed per scope and per client IP or username.

Registration counts every attempt per IP (mass sign-up) and failures per username; login counts failures
per IP (users/login_guard.py). Only the offending IP or username is refused, with 429 and Retry-After;
everybody else carries on.

The read-modify-write is not atomic: concurrent failures may be undercounted by the number of requests
in flight, which still bounds guessing to a small multiple of the limit.
"""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str:
    """REMOTE_ADDR, or the X-Forwarded-For entry set by the NUM_PROXIES trusted proxies."""
    return BaseThrottle().get_ident(request)


def _cache_key(scope: str, ident: str) -> str:
    # Hashed: usernames may hold characters a cache backend refuses in keys.
    return f"auth-throttle:{scope}:{hashlib.sha256(ident.encode()).hexdigest()}"


def _limit(scope: str) -> tuple[int, int]:
    return settings.AUTH_THROTTLES[scope]


def count(scope: str, ident: str) -> int:
    state = cache.get(_cache_key(scope, ident))
    return state["count"] if state and state["reset_at"] > time.time() else 0


def seconds_until_allowed(scope: str, ident: str) -> int:
    """0 when another attempt is allowed, else the seconds until the window ends."""
    limit, _ = _limit(scope)
    state = cache.get(_cache_key(scope, ident))
    remaining = state["reset_at"] - time.time() if state else 0
    if state and state["count"] >= limit and remaining > 0:
        return math.ceil(remaining)
    return 0


def enforce(*checks: tuple[str, str]) -> None:
    """Raise 429 (with Retry-After) when any (scope, ident) pair has used up its window."""
    wait = max((seconds_until_allowed(scope, ident) for scope, ident in checks if ident), default=0)
    if wait:
        raise Throttled(wait=wait)


def record(*checks: tuple[str, str]) -> None:
    now = time.time()
    for scope, ident in checks:
        if not ident:
            continue
        _, window = _limit(scope)
        key = _cache_key(scope, ident)
        state = cache.get(key)
        if not state or state["reset_at"] <= now:
            state = {"count": 0, "reset_at": now + window}
        state["count"] += 1
        cache.set(key, state, timeout=math.ceil(state["reset_at"] - now))
