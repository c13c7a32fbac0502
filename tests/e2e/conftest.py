"""Fixtures that start the real stack: three processes on free ports, a fresh data folder, the default
trained model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_support import ROOT, STAFF, Customer, LocalStack


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default model, as `make run` serves it (make test-e2e trains it first when it is stale)."""
    path = Path(os.environ.get("MODEL_DIR") or ROOT / "ml_model" / "models")
    if not (path / "model_metadata.json").exists():
        pytest.fail(f"no trained model in {path}: run `make train` (make test-e2e does it for you)")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory, model_dir):
    stack = LocalStack(data_dir=tmp_path_factory.mktemp("data"), model_dir=model_dir)
    try:
        stack.manage("migrate", "--noinput")
        stack.manage("ensure_staff_user", "--username", STAFF[0], "--email", "analyst@example.com",
                     env={"STAFF_PASSWORD": STAFF[1]})
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def customer(stack) -> Customer:
    return Customer(stack)
