"""Per-user rate limits on capture and listing: 429 with Retry-After, nothing stored, other users unaffected."""

from __future__ import annotations

import pytest
from app.services.rate_limit import RateLimited, RateLimiter

from fastapi_plumbing.testing import assert_problem
from tests.support.api import Api


@pytest.fixture(scope="module")
def limited(start_app, signing_key) -> Api:
    return Api(start_app(RATE_LIMIT_CAPTURES_PER_MINUTE="3", RATE_LIMIT_LISTINGS_PER_MINUTE="2").url, signing_key)


def test_captures_beyond_the_limit_are_429_with_retry_after_and_store_nothing(limited, count_rows):
    # Before: one user made 1,500 captures in 24 s.
    assert [limited.create(user=301).status_code for _ in range(3)] == [201, 201, 201]
    before = count_rows()

    refused = limited.create(user=301)

    assert_problem(refused, 429, "rate_limited", "/transactions")
    assert 1 <= int(refused.headers["Retry-After"]) <= 20  # 3 a minute: one more every 20 s
    assert "Too many requests" in refused.json()["detail"]
    assert count_rows() == before
    assert limited.create(user=302).status_code == 201  # per user: someone else is not slowed down


def test_listings_beyond_the_limit_are_429(limited):
    assert [limited.get("/transactions", user=303).status_code for _ in range(2)] == [200, 200]

    refused = limited.get("/transactions", user=303)

    assert_problem(refused, 429, "rate_limited", "/transactions")
    assert int(refused.headers["Retry-After"]) >= 1
    assert limited.get("/transactions", user=304).status_code == 200


def test_the_bucket_refills_with_time_and_a_zero_limit_is_off():
    clock = [0.0]
    limiter = RateLimiter(60, clock=lambda: clock[0])  # one a second, 60 at once
    for _ in range(60):
        limiter.check("u")
    with pytest.raises(RateLimited) as raised:
        limiter.check("u")
    assert raised.value.retry_after == 1

    clock[0] = 1.0
    limiter.check("u")
    with pytest.raises(RateLimited):
        limiter.check("u")
    for _ in range(1000):
        RateLimiter(0).check("u")


def test_memory_stays_bounded_by_dropping_the_least_recently_seen_users():
    limiter = RateLimiter(5, max_users=3, clock=lambda: 0.0)
    for user in ("a", "b", "c", "d"):
        limiter.check(user)

    assert list(limiter._buckets) == ["b", "c", "d"]
