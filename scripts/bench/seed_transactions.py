"""Resize the transaction service's table to N rows, straight through its SQLAlchemy models.

Run as a separate process (``python scripts/bench/seed_transactions.py N``) with the service's
environment: the transaction service's package is called ``app``, like the fraud service's, so the two
cannot be imported into one interpreter. Rows are decided captures of made-up customers, spread over the
past year, shaped like the default simulation's traffic: 1.2 % BLOCKED, 1.5 % of the approved ones in the
review band, labels on most reviewed rows and a few others (the console's queue and what-if read them);
inserted in chunks so memory stays flat, then the console's aggregates are recounted. Shrinking deletes
seeded rows only (never a real capture). Prints the final row count.
"""

from __future__ import annotations

import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "transaction_service"))

from app.core.config import settings  # noqa: E402
from app.models import APPROVED, BLOCKED, Transaction  # noqa: E402
from app.services.review_queue import enters_queue, rebuild_aggregates  # noqa: E402
from sqlalchemy import create_engine, delete, func, insert, select  # noqa: E402

CHUNK = 20_000
SEED_VERSION = "bench-seed"
BLOCKED_SHARE, BAND_SHARE = 0.012, 0.015
LABELLED_SHARE = {"blocked": 0.6, "band": 0.3, "other": 0.005}


def _decision(rng: random.Random) -> tuple[str, float, str]:
    roll = rng.random()
    if roll < BLOCKED_SHARE:
        return BLOCKED, 0.5 + rng.random() / 2, "blocked"
    if roll < BLOCKED_SHARE + BAND_SHARE:
        return APPROVED, settings.REVIEW_THRESHOLD + rng.random() * (0.5 - settings.REVIEW_THRESHOLD), "band"
    return APPROVED, rng.random() * settings.REVIEW_THRESHOLD, "other"


def _rows(count: int, rng: random.Random, now: datetime) -> list[dict]:
    rows = []
    for _ in range(count):
        when = now - timedelta(seconds=rng.randrange(1, 365 * 86_400))
        status, risk, kind = _decision(rng)
        labelled = rng.random() < LABELLED_SHARE[kind]
        rows.append({
            # Not from rng: its seed repeats when the table grows to the same size twice (growth_table, then
            # console), and ids drawn from it would collide with the seeded rows still there.
            "id": uuid.uuid4(),
            "customer_id": f"seed-{rng.randrange(50_000)}",
            "terminal_id": f"T-{rng.randrange(10_000):05d}",
            "amount": Decimal(rng.randrange(100, 50_000)) / 100,
            "currency": "EUR",
            "timestamp": when,
            "status": status,
            "risk_score": risk,
            "queued_for_review": enters_queue(status, risk, settings.REVIEW_THRESHOLD),
            "is_fraud": (rng.random() < (0.5 if kind == "blocked" else 0.05)) if labelled else None,
            "labelled_at": when if labelled else None,
            "reasons": [],
            "model_version": SEED_VERSION,
            "decided_by": "model",
            "created_at": when,
            "decided_at": when,
        })
    return rows


def main(target: int) -> int:
    # hide_parameters: a failed insert would otherwise print 10,000 rows and bury the error's first line.
    engine = create_engine(settings.SQLALCHEMY_DATABASE_URL, hide_parameters=True)
    rng = random.Random(target)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        count = conn.scalar(select(func.count()).select_from(Transaction))
        if count > target:
            seeded = select(Transaction.id).where(Transaction.model_version == SEED_VERSION).limit(count - target)
            conn.execute(delete(Transaction).where(Transaction.id.in_(seeded)))
            count = conn.scalar(select(func.count()).select_from(Transaction))
    while count < target:
        chunk = min(CHUNK, target - count)
        with engine.begin() as conn:
            conn.execute(insert(Transaction), _rows(chunk, rng, now))
        count += chunk
    with engine.begin() as conn:
        rebuild_aggregates(conn)  # the rows above bypassed the service, which keeps them as it goes
        print(conn.scalar(select(func.count()).select_from(Transaction)))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
