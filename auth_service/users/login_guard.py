"""Brute-force protection for every password check (API login, admin login, password change), without a
lockout that anyone can impose on someone else.

Failures are counted per username+IP pair. The first LOGIN_FAILURES_BEFORE_DELAY cost nothing; after
that the pair must wait before its next attempt, 1 s, then 2 s, 4 s, ... up to LOGIN_DELAY_MAX_SECONDS,
and an attempt made sooner is refused (429 with Retry-After) without the password being looked at. The
same username from any other address is not slowed, so a guesser cannot lock the real user out; the real
user on the guesser's address gets in once the delay has passed. An IP also has a budget of
LOGIN_FAILURES_PER_IP failures per window over all usernames (password spraying). A success clears its
pair. Each delay imposed is logged (WARNING) and counted (auth_login_lockouts_total).

The read-modify-write on the cache is not atomic: concurrent failures of one pair may be undercounted by
the number of requests in flight, which only shortens that pair's delay by a step or two.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from auth_service.metrics import LOGIN_DELAYED, LOGIN_FAILURES, LOGIN_LOCKOUTS, LOGINS
from django.conf import settings
from django.core.cache import cache

from . import throttling

logger = logging.getLogger(__name__)
IP_SCOPE = "login_failures_per_ip"


@dataclass(frozen=True)
class LoginAttempt:
    ip: str
    username: str  # compared case-insensitively, as usernames are
    via: str  # "api", "admin", "password_change": a label for logs and metrics

    @classmethod
    def of(cls, request, username: str, via: str) -> "LoginAttempt":
        return cls(throttling.client_ip(request) or "", (username or "").strip().lower(), via)

    @property
    def _key(self) -> str:
        # Hashed: usernames may hold characters a cache backend refuses in keys.
        return "auth-login-pair:" + hashlib.sha256(f"{self.ip}\0{self.username}".encode()).hexdigest()


def _delay_after(failures: int) -> int:
    free, longest, _ = settings.LOGIN_DELAY
    if failures < free:
        return 0
    return min(longest, 2 ** min(failures - free, 32))


def seconds_to_wait(attempt: LoginAttempt) -> int:
    """0 when the attempt may check its password now; else how long its pair (or its IP) must wait."""
    state = cache.get(attempt._key)
    pair_wait = state["wait_until"] - time.time() if state else 0
    wait = max(math.ceil(pair_wait), throttling.seconds_until_allowed(IP_SCOPE, attempt.ip) if attempt.ip else 0)
    if wait > 0:
        LOGIN_DELAYED.labels(attempt.via).inc()
        return wait
    return 0


def failed(attempt: LoginAttempt) -> None:
    now = time.time()
    LOGIN_FAILURES.labels(attempt.via).inc()
    _, _, keep = settings.LOGIN_DELAY
    state = cache.get(attempt._key) or {"failures": 0, "wait_until": now}
    state["failures"] += 1
    delay = _delay_after(state["failures"])
    state["wait_until"] = now + delay
    cache.set(attempt._key, state, timeout=keep + delay)
    if delay:
        LOGIN_LOCKOUTS.labels(attempt.via, "username_ip").inc()
        logger.warning(
            "login lockout: %d failures for username %r from %s; next attempt allowed in %d s (via %s)",
            state["failures"], attempt.username, attempt.ip, delay, attempt.via,
        )
    if attempt.ip:
        throttling.record((IP_SCOPE, attempt.ip))
        ip_wait = throttling.seconds_until_allowed(IP_SCOPE, attempt.ip)
        limit, _ = settings.AUTH_THROTTLES[IP_SCOPE]
        if ip_wait and throttling.count(IP_SCOPE, attempt.ip) == limit:  # counted once, when it starts
            LOGIN_LOCKOUTS.labels(attempt.via, "ip").inc()
            logger.warning(
                "login lockout: %d failures from %s over any username; next attempt allowed in %d s (via %s)",
                limit, attempt.ip, ip_wait, attempt.via,
            )


def succeeded(attempt: LoginAttempt) -> None:
    LOGINS.labels(attempt.via).inc()
    cache.delete(attempt._key)
