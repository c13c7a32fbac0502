"""The transaction service: FastAPI app, with heavy objects created once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from app.api.routes import console, probes, staff, transactions
from app.auth.jwks import JWKSCache
from app.auth.tokens import AccessTokenVerifier
from app.clients.circuit_breaker import CircuitBreaker
from app.clients.fraud import FraudClient
from app.clients.fraud_batches import FraudBatches
from app.core.config import settings
from app.core.db import build_engine, build_sessionmaker
from app.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from app.services.batch_writes import CaptureWriters
from app.services.capture import TransactionCapture
from app.services.fallback import FallbackPolicy
from app.services.feedback import RetrySchedule
from app.services.maintenance import Maintenance
from app.services.rate_limit import RateLimiter
from fastapi import FastAPI

from fastapi_plumbing.logging import configure_logging
from fastapi_plumbing.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from fastapi_plumbing.pool import PoolSettings, limit_threadpool
from fastapi_plumbing.problems import install_problem_handlers


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    limit_threadpool(PoolSettings.from_environment())  # as many threads as pooled connections
    engine = build_engine(settings.SQLALCHEMY_DATABASE_URL)
    app.state.sessions = build_sessionmaker(engine)
    app.state.fallback_policy = FallbackPolicy.parse(settings.FRAUD_FALLBACK_POLICY)
    app.state.feedback_schedule = RetrySchedule(settings.FEEDBACK_RETRY_BASE_SECONDS,
                                                settings.FEEDBACK_RETRY_MAX_SECONDS)
    jwks = JWKSCache(settings.AUTH_JWKS_URL, cache_seconds=settings.JWKS_CACHE_SECONDS,
                     min_refetch_seconds=settings.JWKS_MIN_REFETCH_SECONDS, timeout=settings.JWKS_FETCH_TIMEOUT_SECONDS)
    app.state.token_verifier = AccessTokenVerifier(jwks, issuer=settings.JWT_ISSUER, audience=settings.JWT_AUDIENCE,
                                                   leeway=settings.JWT_LEEWAY_SECONDS,
                                                   cache_size=settings.ACCESS_TOKEN_CACHE_SIZE)
    app.state.fraud_client = FraudClient(
        settings.FRAUD_SERVICE_URL,
        settings.INTERNAL_TOKEN,
        connect_timeout=settings.FRAUD_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.FRAUD_READ_TIMEOUT_SECONDS,
        deadline=settings.FRAUD_DEADLINE_SECONDS,
        retry_backoff=settings.FRAUD_RETRY_BACKOFF_SECONDS,
        breaker=CircuitBreaker(settings.FRAUD_BREAKER_FAILURE_THRESHOLD, settings.FRAUD_BREAKER_RESET_SECONDS),
    )
    # FRAUD_BATCHING=on (default): captures score through the batcher; off: one call each.
    fraud_batches = FraudBatches(app.state.fraud_client, in_flight=settings.FRAUD_CALLS_IN_FLIGHT,
                                 max_batch=settings.FRAUD_BATCH_MAX, min_batch=settings.FRAUD_BATCH_MIN
                                 ) if settings.FRAUD_BATCHING == "on" else None
    app.state.listing_rate_limit = RateLimiter(settings.RATE_LIMIT_LISTINGS_PER_MINUTE)
    app.state.transaction_capture = TransactionCapture(engine, fraud_batches or app.state.fraud_client,
                                                       app.state.fallback_policy,
                                                       timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS),
                                                       RateLimiter(settings.RATE_LIMIT_CAPTURES_PER_MINUTE),
                                                       writers := CaptureWriters(engine))
    maintenance = Maintenance(engine, app.state.sessions, app.state.fraud_client, app.state.fallback_policy,
                              app.state.feedback_schedule, settings.PENDING_RESCUE_AFTER_SECONDS,
                              settings.MAINTENANCE_INTERVAL_SECONDS)
    task = asyncio.create_task(maintenance.run_forever(), name="maintenance")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if fraud_batches is not None:  # captures still in flight at shutdown get their decisions and writes
            await fraud_batches.drain()
        await writers.drain()
        await app.state.fraud_client.aclose()
        engine.dispose()


app = FastAPI(
    title="detec_fraude transaction service",
    version=settings.APP_VERSION,
    lifespan=lifespan,
)
# Outermost last: the request id, metrics and the 500 answer cover 413 answers too.
app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES)
app.add_middleware(RequestContextMiddleware, requests=HTTP_REQUESTS, latency=HTTP_LATENCY)
install_problem_handlers(app)
app.include_router(transactions.router)
app.include_router(probes.router)
app.include_router(staff.router)
app.include_router(console.session_router)
app.include_router(console.pages)
