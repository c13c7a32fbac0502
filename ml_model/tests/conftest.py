"""Shared fixtures: small simulated data sets and one small trained model per test session."""

from __future__ import annotations

import pytest

from ml_model.simulate import simulate_transactions
from ml_model.training import train_and_save


@pytest.fixture(scope="session")
def small_raw():
    """About 25,000 transactions over 40 days: enough history for every window and the label delay."""
    return simulate_transactions(days=40, customers=300, terminals=600, seed=3)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory):
    """A real, small model written by ``train_and_save`` (tests copy it before altering it)."""
    folder = tmp_path_factory.mktemp("model") / "models"
    train_and_save(folder)  # the defaults: 45 days, 300 customers, 600 terminals
    return folder


@pytest.fixture(scope="session")
def hybrid_dir(tmp_path_factory):
    """A small hybrid model (same data as ``trained_dir``: 58 labelled frauds in its training period)."""
    folder = tmp_path_factory.mktemp("hybrid") / "models"
    train_and_save(folder, kind="hybrid")
    return folder
