"""The growth phases' table seeding (scripts/bench/growth.py) on a migrated SQLite database of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench.growth as growth  # noqa: E402
from stack import LocalStack  # noqa: E402


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = LocalStack(data_dir=tmp_path_factory.mktemp("data"), model_dir=ROOT / "ml_model" / "models")
    subprocess.run([sys.executable, "-m", "alembic", "-c", "alembic.ini", "upgrade", "head"],
                   cwd=ROOT / "transaction_service", env=stack.env("transactions"), check=True, capture_output=True)
    return stack


def test_the_table_grows_and_shrinks_to_the_same_size_more_than_once(stack):
    # growth_table then console each go small -> big -> small: the second growth to the same size used to
    # draw the same ids as the first and fail on the rows the shrink had kept.
    assert [growth.seed_transaction_table(stack, rows) for rows in (1_000, 300, 1_000)] == [1_000, 300, 1_000]
