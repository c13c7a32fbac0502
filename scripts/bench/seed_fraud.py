"""Resize the fraud service's prediction table to N rows, with its per-day customer and terminal totals.

Run as a separate process (``python scripts/bench/seed_fraud.py N``) with the fraud service's environment
(its package is called ``app``, like the transaction service's: see seed_transactions.py). Rows are scored
predictions of made-up customers at made-up terminals over the past year, in the shape seed_shape.py gives
both services' tables (1.2 % BLOCKED), labels on most blocked rows and a few others. Shrinking deletes
every seeded row (never a real prediction) and seeds again up to N. Then ``customer_days`` and
``terminal_days`` are recounted from the prediction table, which every total derives from (a prediction
and its totals are written together); run it while no traffic reaches the service. Bulk paths: one
executemany per chunk on SQLite, COPY on PostgreSQL. Prints the final row count.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

SERVICE = Path(__file__).resolve().parents[2] / "fraud_detection_service"
sys.path.insert(0, str(SERVICE))

from app.core.config import settings  # noqa: E402
from app.db.engine import make_engine  # noqa: E402
from app.services.terminal_totals import _FOLD_LOCK  # noqa: E402
from seed_shape import BLOCKED_SHARE, CUSTOMERS, DAYS, SEED_VERSION, TERMINALS, insert_rows  # noqa: E402
from sqlalchemy import Connection, text  # noqa: E402

CHUNK = 50_000
THRESHOLD = 0.5
LABELLED_SHARE = {"blocked": 0.6, "approved": 0.01}
COLUMNS = ("transaction_id", "customer_id", "terminal_id", "amount", "timestamp", "is_fraud", "decision",
           "risk_score", "anomaly_score", "threshold", "reasons", "model_version", "recorded_at")


def _rows(count: int, rng: np.random.Generator, now: datetime) -> list[tuple]:
    """Column by column (numpy), zipped into tuples at the end: a million rows in a few seconds."""
    blocked = rng.random(count) < BLOCKED_SHARE
    risk = np.where(blocked, 0.5 + rng.random(count) / 2, rng.random(count) * 0.3).tolist()
    labelled = rng.random(count) < np.where(blocked, LABELLED_SHARE["blocked"], LABELLED_SHARE["approved"])
    fraud = rng.random(count) < np.where(blocked, 0.5, 0.05)
    seconds = rng.integers(1, DAYS * 86_400, size=count) * np.timedelta64(1, "s")
    # SQLAlchemy's SQLite text form of a DateTime ("2026-03-11 04:18:07.701630"): compared as text there.
    when = np.char.replace(np.datetime_as_string(np.datetime64(now, "us") - seconds, unit="us"), "T", " ").tolist()
    ids = rng.bytes(16 * count).hex()
    return list(zip(
        (str(uuid.UUID(ids[i:i + 32])) for i in range(0, 32 * count, 32)),
        (f"seed-{n}" for n in rng.integers(CUSTOMERS, size=count).tolist()),
        (f"T-{n:05d}" for n in rng.integers(TERMINALS, size=count).tolist()),
        (rng.integers(100, 50_000, size=count) / 100).tolist(),
        when,
        [None if not is_labelled else is_fraud for is_labelled, is_fraud in zip(labelled.tolist(), fraud.tolist(),
                                                                                 strict=True)],
        np.where(blocked, "BLOCKED", "APPROVED").tolist(),
        risk, risk, [THRESHOLD] * count, ["[]"] * count, [SEED_VERSION] * count, when,
        strict=True,
    ))


def _recount_totals(conn: Connection) -> None:
    """customer_days and terminal_days from the prediction table; the terminals' pending changes (not
    folded yet) are part of the recount, so they go too."""
    day = 'CAST("timestamp" AS DATE)' if conn.dialect.name == "postgresql" else 'date("timestamp")'
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FOLD_LOCK})  # no fold meanwhile
    sums = "count(*), sum(amount), sum(amount * amount)"
    for statement in (
        "DELETE FROM terminal_day_changes",
        "DELETE FROM terminal_days",
        "DELETE FROM customer_days",
        # A customer's fraud_count stays 0: labels update only the terminal's totals (profile_store.record_label).
        f"INSERT INTO customer_days (customer_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count) "  # noqa: S608
        f"SELECT customer_id, {day}, {sums}, 0 FROM transactions GROUP BY customer_id, {day}",
        f"INSERT INTO terminal_days (terminal_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count, "  # noqa: S608
        f"labelled_count) SELECT terminal_id, {day}, {sums}, sum(CASE WHEN is_fraud THEN 1 ELSE 0 END), "
        f"count(is_fraud) FROM transactions GROUP BY terminal_id, {day}",
    ):
        conn.execute(text(statement))


def main(target: int) -> int:
    engine = make_engine(settings.database_url)
    rng = np.random.default_rng()  # fresh rows every time: see seed_transactions.py on colliding ids
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp of this database
    began = time.perf_counter()
    with engine.begin() as conn:
        count = conn.scalar(text("SELECT count(*) FROM transactions"))
        if count > target:
            conn.execute(text("DELETE FROM transactions WHERE model_version = :seed"), {"seed": SEED_VERSION})
            count = conn.scalar(text("SELECT count(*) FROM transactions"))
    while count < target:
        chunk = min(CHUNK, target - count)
        with engine.begin() as conn:
            insert_rows(conn, "transactions", COLUMNS, _rows(chunk, rng, now))
        count += chunk
    inserted = time.perf_counter()
    with engine.begin() as conn:
        _recount_totals(conn)
        final = conn.scalar(text("SELECT count(*) FROM transactions"))
    print(f"inserted in {inserted - began:.1f} s, totals recounted in {time.perf_counter() - inserted:.1f} s",
          file=sys.stderr)
    print(final)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
