"""JWKS cache: the auth service's public keys, refreshed periodically and on an unknown kid (rate-bounded)."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import jwt

logger = logging.getLogger(__name__)
# Shorter RSA keys can be factored; a token signed with one proves nothing (NIST SP 800-57: 2048 at least).
MIN_RSA_KEY_BITS = 2048


class JWKSUnavailable(Exception):
    """The key set could not be fetched and nothing usable is cached."""


class FetchNeeded(Exception):
    """The answer needs a (blocking) fetch of the key set, which the caller did not allow."""


class JWKSCache:
    def __init__(self, url: str, *, cache_seconds: float, min_refetch_seconds: float, timeout: float,
                 clock=time.monotonic) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None

    def get_key(self, kid: str, *, may_fetch: bool = True) -> jwt.PyJWK | None:
        """The verifying key for kid, or None when the auth service does not publish it.

        With may_fetch=False (callers on the event loop) nothing blocks: FetchNeeded is raised instead of
        fetching or of waiting for a fetch under way in another thread.
        """
        if not self._lock.acquire(blocking=may_fetch):
            raise FetchNeeded()
        try:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.cache_seconds
            unknown = kid not in self._keys
            may_refetch = self._last_attempt is None or now - self._last_attempt >= self.min_refetch_seconds
            # Both refetch reasons share one rate limit, so a down auth service is not hammered either.
            if (stale or unknown) and may_refetch:
                if not may_fetch:
                    raise FetchNeeded()
                self._refresh(now)
            elif not self._keys:
                raise JWKSUnavailable("no keys cached and the last fetch failed moments ago")
            return self._keys.get(kid)
        finally:
            self._lock.release()

    def _refresh(self, now: float) -> None:
        self._last_attempt = now
        try:
            response = httpx.get(self.url, timeout=self.timeout)
            response.raise_for_status()
            document = response.json()
            keys = {}
            for entry in document.get("keys", []):
                # Only RSA signing keys can verify an RS256 token; anything else is skipped.
                if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig" or "kid" not in entry:
                    continue
                key = jwt.PyJWK(entry, algorithm="RS256")
                if key.key.key_size < MIN_RSA_KEY_BITS:
                    logger.warning("JWKS key %r refused: %d-bit RSA, under %d", entry["kid"], key.key.key_size,
                                   MIN_RSA_KEY_BITS)
                    continue
                keys[entry["kid"]] = key
        except (httpx.HTTPError, ValueError, AttributeError, TypeError, jwt.PyJWKError) as exc:
            logger.warning("JWKS fetch from %s failed: %s", self.url, exc)
            if not self._keys:
                raise JWKSUnavailable(str(exc)) from None
            return  # keep serving the keys we have
        self._keys = keys
        self._fetched_at = now
