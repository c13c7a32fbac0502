"""The growth phases' table seeding (scripts/bench/growth.py) on migrated SQLite databases of their own."""

from __future__ import annotations

import sqlite3
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
    for service, folder in (("transactions", "transaction_service"), ("fraud", "fraud_detection_service")):
        subprocess.run([sys.executable, "-m", "alembic", "-c", "alembic.ini", "upgrade", "head"],
                       cwd=ROOT / folder, env=stack.env(service), check=True, capture_output=True)
    return stack


def test_the_table_grows_and_shrinks_to_the_same_size_more_than_once(stack):
    # growth_table then console each go small -> big -> small: the second growth to the same size used to
    # draw the same ids as the first and fail on the rows the shrink had kept.
    assert [growth.seed_transaction_table(stack, rows) for rows in (1_000, 300, 1_000)] == [1_000, 300, 1_000]


def test_fraud_tables_are_seeded_with_their_day_totals_and_keep_real_predictions(stack):
    database = sqlite3.connect(stack.data_dir / "fraud.sqlite3")
    with database:  # 800 rows of an earlier seeding, whose totals are gone: the resize must recount
        database.executemany("INSERT INTO transactions (transaction_id, customer_id, terminal_id, amount, timestamp, "
                             "model_version, recorded_at) VALUES (?, 'seed-1', 'T-00001', 1.0, '2026-01-01 00:00:00', "
                             "'bench-seed', '2026-01-01 00:00:00')", [(f"old-{i}",) for i in range(800)])
        # and one prediction the service made, with the totals it wrote beside it (a label included)
        database.execute("INSERT INTO transactions (transaction_id, customer_id, terminal_id, amount, timestamp, "
                         "is_fraud, decision, model_version, recorded_at) VALUES ('real-1', 'alice', 'T-00007', "
                         "40.0, '2026-01-02 10:00:00.000000', 1, 'BLOCKED', 'v1', '2026-01-02 10:00:00.000000')")
        database.execute("INSERT INTO customer_days VALUES ('alice', '2026-01-02', 1, 40.0, 1600.0, 0)")
        database.execute("INSERT INTO terminal_day_changes (terminal_id, day, tx_count, amount_sum, amount_sq_sum, "
                         "fraud_count, labelled_count) VALUES ('T-00007', '2026-01-02', 1, 40.0, 1600.0, 1, 1)")
    assert growth.seed_tables(stack, 500, services=("fraud",)) == {"fraud": 500}  # shrink, then grow again

    def one(sql: str):
        return database.execute(sql).fetchone()

    assert one("SELECT count(*) FROM transactions WHERE customer_id LIKE 'seed-%'") == (499,)
    assert one("SELECT count(*) FROM transactions WHERE transaction_id LIKE 'old-%'") == (0,)
    assert one("SELECT count(DISTINCT customer_id), count(DISTINCT terminal_id), count(DISTINCT date(timestamp)) "
               "FROM transactions")[0] > 400  # spread over customers, terminals and days, not one of each
    assert one("SELECT tx_count, amount_sum FROM customer_days WHERE customer_id = 'alice'") == (1, 40.0)
    # Every total adds up to the predictions it counts, per customer, terminal and day.
    assert one("SELECT sum(tx_count) FROM customer_days") == one("SELECT sum(tx_count) FROM terminal_days") == (500,)
    assert one("SELECT sum(fraud_count), sum(labelled_count) FROM terminal_days") == one(
        "SELECT sum(is_fraud), count(is_fraud) FROM transactions")
    assert one("SELECT tx_count, fraud_count, labelled_count FROM terminal_days WHERE terminal_id = 'T-00007' "
               "AND day = '2026-01-02'") == (1, 1, 1)
    assert one("SELECT count(*) FROM terminal_day_changes") == (0,)  # folded into the recount, not counted twice
