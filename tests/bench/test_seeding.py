"""The growth phases' table seeding (scripts/bench/growth.py) on migrated SQLite databases of their own."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bench.growth as growth  # noqa: E402
from bench.databases import PostgresDatabases  # noqa: E402
from stack import LocalStack  # noqa: E402


def _migrate(stack: LocalStack, services=("transactions", "fraud")) -> None:
    for service in services:
        folder = {"transactions": "transaction_service", "fraud": "fraud_detection_service"}[service]
        subprocess.run([sys.executable, "-m", "alembic", "-c", "alembic.ini", "upgrade", "head"],
                       cwd=ROOT / folder, env=stack.env(service), check=True, capture_output=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = LocalStack(data_dir=tmp_path_factory.mktemp("data"), model_dir=ROOT / "ml_model" / "models")
    _migrate(stack)
    return stack


# In the transaction service's interpreter: the seeded rows as stored, then the same rows read through the
# model and written back by SQLAlchemy's typed insert of the seeder's columns (the others left to their
# defaults, as the seeder leaves them), as stored; rolled back.
ROUND_TRIP = textwrap.dedent("""
    import json, sys
    from app.core.config import settings
    from app.models import Transaction
    from seed_transactions import COLUMNS
    from sqlalchemy import create_engine, delete, insert, select
    engine = create_engine(settings.SQLALCHEMY_DATABASE_URL)
    table = Transaction.__table__
    names = ", ".join(f'"{column.name}"' for column in table.columns)
    if engine.dialect.name == "sqlite":  # the storage class too: 499.7 stored as text is not a REAL
        names += ", " + ", ".join(f'typeof("{column.name}")' for column in table.columns)
    with engine.connect() as conn:
        def stored():
            return sorted(map(repr, conn.exec_driver_sql(f"SELECT {names} FROM transactions")))
        seeded = stored()
        rows = [dict(row._mapping) for row in conn.execute(select(*(table.c[name] for name in COLUMNS)))]
        conn.execute(delete(table))
        conn.execute(insert(table), rows)
        typed = stored()
        conn.rollback()
    json.dump({"seeded": seeded, "typed": typed}, sys.stdout)
""")


def _stored_rows(stack: LocalStack) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", ROUND_TRIP], cwd=ROOT / "transaction_service",
                          env={**stack.env("transactions"),
                               "PYTHONPATH": os.pathsep.join(str(ROOT / folder) for folder in ("transaction_service",
                                                                                               "scripts/bench"))},
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


@pytest.fixture(params=["sqlite", "postgresql"])
def transactions_stack(request, tmp_path):
    stack = LocalStack(data_dir=tmp_path, model_dir=ROOT / "ml_model" / "models")
    databases = None
    if request.param == "postgresql":
        if not os.environ.get("POSTGRES_URL"):
            pytest.skip("POSTGRES_URL is not set")
        databases = PostgresDatabases(os.environ["POSTGRES_URL"], ["transactions"], prefix="bench_seeding")
        databases.create()
        stack.database_urls = databases.urls()
    try:
        _migrate(stack, ("transactions",))
        yield stack
    finally:
        if databases is not None:
            databases.drop()


def test_the_transaction_seeder_stores_what_sqlalchemys_typed_insert_would(transactions_stack):
    # The seeder writes at the driver's level (executemany, COPY): the same rows as the typed insert it
    # replaced, value for value and storage class for storage class.
    assert growth.seed_transaction_table(transactions_stack, 2_000) == 2_000
    rows = _stored_rows(transactions_stack)
    assert len(rows["seeded"]) == 2_000
    assert rows["seeded"] == rows["typed"]


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
