"""Fixtures: stub neighbours, the suite's database, and the service running as a real process."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from app.models import Transaction
from sqlalchemy import Engine, create_engine, func, select

from tests.support.api import Api
from tests.support.database import suite_database
from tests.support.running_app import RunningApp
from tests.support.stubs import FraudStub, JWKSStub
from tests.support.tokens import SigningKey

INTERNAL_TOKEN = "test-internal-token"


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate("test-key-1")


@pytest.fixture(scope="session")
def jwks_stub(signing_key):
    stub = JWKSStub([signing_key])
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
def fraud_stub():
    stub = FraudStub(INTERNAL_TOKEN)
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture(autouse=True)
def healthy_fraud_stub(fraud_stub):
    """Every test starts with a healthy, empty stub, whatever the previous test did to it."""
    fraud_stub.reset()
    if not fraud_stub.running:
        fraud_stub.start()
    yield fraud_stub


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with suite_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url) -> Engine:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def start_app(tmp_path_factory, database_url, jwks_stub, fraud_stub) -> Callable[..., RunningApp]:
    """Start (once per distinct configuration) the service with settings overridden by keyword."""
    data_dir = tmp_path_factory.mktemp("data")
    base_env = {
        "ENVIRONMENT": "test",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "AUTH_JWKS_URL": f"{jwks_stub.url}/api/auth/jwks/",
        "JWKS_MIN_REFETCH_SECONDS": "0.5",
        "FRAUD_SERVICE_URL": fraud_stub.url,
        "INTERNAL_TOKEN": INTERNAL_TOKEN,
        "FRAUD_FALLBACK_POLICY": "block",
        "FRAUD_CONNECT_TIMEOUT_SECONDS": "0.3",
        "FRAUD_READ_TIMEOUT_SECONDS": "1.0",
        "FRAUD_DEADLINE_SECONDS": "2.5",
        "FRAUD_RETRY_BACKOFF_SECONDS": "0.05",
        # High enough that fault tests do not open the breaker for the tests after them.
        "FRAUD_BREAKER_FAILURE_THRESHOLD": "1000",
        "MAINTENANCE_INTERVAL_SECONDS": "0.2",
        "FEEDBACK_RETRY_BASE_SECONDS": "0.2",
        "FEEDBACK_RETRY_MAX_SECONDS": "0.5",
        "PENDING_RESCUE_AFTER_SECONDS": "3",
        "LOG_FORMAT": "json",
        # Many tests act as the same few users; test_rate_limit.py turns the limits on for its own process.
        "RATE_LIMIT_CAPTURES_PER_MINUTE": "0",
        "RATE_LIMIT_LISTINGS_PER_MINUTE": "0",
    }
    apps: dict[tuple, RunningApp] = {}

    def start(**overrides: str) -> RunningApp:
        overrides = {key: value for key, value in overrides.items() if base_env.get(key) != value}
        config = tuple(sorted(overrides.items()))
        if overrides:
            # All processes share the database; only the default one runs the background loop often,
            # so a variant (wrong token, other policy) never decides another test's abandoned rows.
            overrides.setdefault("MAINTENANCE_INTERVAL_SECONDS", "3600")
        if config not in apps:
            log = data_dir / f"service-{len(apps)}.log"
            apps[config] = RunningApp({**base_env, **overrides}, log)
        return apps[config]

    yield start
    for app in apps.values():
        app.stop()


@pytest.fixture
def api(start_app, signing_key) -> Api:
    """The service with the default configuration (fallback policy: block)."""
    return Api(start_app().url, signing_key)


@pytest.fixture
def count_rows(engine) -> Callable[[], int]:
    def count() -> int:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Transaction))
    return count
