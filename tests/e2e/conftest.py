"""Fixtures that start the real stack: three processes on free ports, a fresh data folder, a small model
trained for the session by ml_model itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import STAFF, Customer, LocalStack


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from ml_model.training import train_and_save

    out = tmp_path_factory.mktemp("model")
    train_and_save(out, days=45, customers=400, terminals=800, seed=11)
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory, model_dir):
    stack = LocalStack(data_dir=tmp_path_factory.mktemp("data"), model_dir=model_dir)
    try:
        stack.manage("migrate", "--noinput")
        stack.manage("ensure_staff_user", "--username", STAFF[0], "--password", STAFF[1],
                     "--email", "analyst@example.com")
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def customer(stack) -> Customer:
    return Customer(stack)
