"""Brute-force limits on login and registration, counted in a cache every worker shares.

Login: see users/login_guard.py (a delay per username+IP pair, a budget per IP). Registration: see
users/throttling.py (attempts per IP, failures per username).

The default cache is a table in the service's own database (created by a migration), so the limits hold
across gunicorn workers and pods without another server. CACHE_URL can point at Redis/Memcached
instead (django-environ syntax); a per-process cache (locmemcache://) would let N workers allow N times
the attempts.
"""

from .environment import (
    CACHE_URL,
    LOGIN_DELAY_MAX_SECONDS,
    LOGIN_FAILURE_WINDOW_SECONDS,
    LOGIN_FAILURES_BEFORE_DELAY,
    LOGIN_FAILURES_PER_IP,
    REGISTRATION_FAILURES_PER_USERNAME,
    REGISTRATION_WINDOW_SECONDS,
    REGISTRATIONS_PER_IP,
    env,
)

CACHES = {"default": env.cache_url_config(CACHE_URL)}

# (limit, window in seconds) per scope; see users/throttling.py.
AUTH_THROTTLES = {
    "login_failures_per_ip": (LOGIN_FAILURES_PER_IP, LOGIN_FAILURE_WINDOW_SECONDS),
    "registrations_per_ip": (REGISTRATIONS_PER_IP, REGISTRATION_WINDOW_SECONDS),
    "registration_failures_per_username": (REGISTRATION_FAILURES_PER_USERNAME, REGISTRATION_WINDOW_SECONDS),
}

# (free failures, longest delay in seconds, seconds a pair's count is kept after its last failure)
LOGIN_DELAY = (LOGIN_FAILURES_BEFORE_DELAY, LOGIN_DELAY_MAX_SECONDS, LOGIN_FAILURE_WINDOW_SECONDS)
