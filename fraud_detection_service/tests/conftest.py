from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi_plumbing.testing import free_port
from sqlalchemy import Engine

from app.db.engine import make_engine
from app.db.migrations import upgrade_to_head
from ml_model.artifacts import METADATA_FILE, sha256_of
from ml_model.training import train_and_save
from tests.databases import Databases
from tests.service_process import ServiceProcess, service_env


@pytest.fixture(scope="session")
def databases(tmp_path_factory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("databases"))
    yield dbs
    dbs.drop_all()


@pytest.fixture
def profile_engine(databases) -> Iterator[Engine]:
    """An engine on a freshly migrated, empty fraud database."""
    url = databases.create("store")
    upgrade_to_head(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """Real artifacts, trained in seconds on a small simulated set."""
    path = tmp_path_factory.mktemp("artifacts") / "model"
    train_and_save(path, days=30, customers=100, terminals=200, seed=1)
    return path


@pytest.fixture(scope="session")
def second_model_dir(tmp_path_factory) -> Path:
    """Another real model (other seed, so another version and threshold): a challenger."""
    path = tmp_path_factory.mktemp("artifacts-2") / "model"
    train_and_save(path, days=30, customers=100, terminals=200, seed=2)
    return path


@pytest.fixture(scope="session")
def hybrid_model_dir(tmp_path_factory) -> Path:
    """A real hybrid model (classifier + forest) on 45 simulated days: 58 labelled frauds to learn from."""
    path = tmp_path_factory.mktemp("artifacts") / "hybrid"
    train_and_save(path, kind="hybrid")
    return path


@pytest.fixture(scope="session")
def service_database_url(databases) -> str:
    return databases.create("service")


@pytest.fixture(scope="session")
def service(tmp_path_factory, model_dir, service_database_url) -> Iterator[ServiceProcess]:
    data_dir = tmp_path_factory.mktemp("service-data")
    # Started as production is: the metadata's digest pinned from outside the folder.
    env = service_env(model_dir=model_dir, data_dir=data_dir, database_url=service_database_url,
                      token=secrets.token_urlsafe(24), port=free_port(),
                      MODEL_METADATA_SHA256=sha256_of(model_dir / METADATA_FILE))
    process = ServiceProcess.start(env, data_dir / "service.log")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def service_db(service, service_database_url) -> Iterator[Engine]:
    """The running service's own database, to check what it recorded."""
    engine = make_engine(service_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(service) -> Iterator[httpx.Client]:
    """An internal caller of the running service (sends the shared token)."""
    with httpx.Client(base_url=service.url, headers={"X-Internal-Token": service.token}, timeout=30) as c:
        yield c
