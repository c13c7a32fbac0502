"""Resize the transaction service's table to N rows, at the database driver's level.

Run as a separate process (``python scripts/bench/seed_transactions.py N``) with the service's
environment: the transaction service's package is called ``app``, like the fraud service's, so the two
cannot be imported into one interpreter. Rows are decided captures of made-up customers over the past
year, in the shape seed_shape.py gives both services' tables, like the default simulation's traffic:
1.2 % BLOCKED, 1.5 % of the approved ones in the review band, labels on most reviewed rows and a few
others (the console's queue and what-if read them); inserted in chunks so memory stays flat, then the
console's aggregates are recounted. Shrinking deletes seeded rows only (never a real capture). Prints the
final row count.

Values are written in the form SQLAlchemy's column types store them (one executemany per chunk on
SQLite, COPY on PostgreSQL, as seed_fraud.py does): the typed executemany spent about half the seeding
converting them row by row. tests/bench/test_seeding.py checks that the rows are the same.
"""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "transaction_service"))

from app.core.config import settings  # noqa: E402
from app.models import Transaction  # noqa: E402
from app.services.review_queue import enters_queue, rebuild_aggregates  # noqa: E402
from app.statuses import APPROVED, BLOCKED  # noqa: E402
from seed_shape import BLOCKED_SHARE, CUSTOMERS, DAYS, SEED_VERSION, TERMINALS, insert_rows  # noqa: E402
from sqlalchemy import create_engine, delete, func, select  # noqa: E402

CHUNK = 20_000
BAND_SHARE = 0.015
LABELLED_SHARE = {"blocked": 0.6, "band": 0.3, "other": 0.005}
COLUMNS = ("id", "customer_id", "terminal_id", "amount", "currency", "timestamp", "status", "risk_score",
           "queued_for_review", "is_fraud", "labelled_at", "reasons", "model_version", "decided_by",
           "created_at", "decided_at")


def _decision(rng: random.Random) -> tuple[str, float, str]:
    roll = rng.random()
    if roll < BLOCKED_SHARE:
        return BLOCKED, 0.5 + rng.random() / 2, "blocked"
    if roll < BLOCKED_SHARE + BAND_SHARE:
        return APPROVED, settings.REVIEW_THRESHOLD + rng.random() * (0.5 - settings.REVIEW_THRESHOLD), "band"
    return APPROVED, rng.random() * settings.REVIEW_THRESHOLD, "other"


@dataclass(frozen=True)
class _Stored:
    """How a dialect stores what the column types hand it."""

    uuid: Callable[[uuid.UUID], str]
    cents: Callable[[int], float | str]  # Numeric(14, 2)
    flag: Callable[[bool | None], int | str | None]  # Boolean
    null: str | None
    naive_utc: bool  # DateTime


# SQLite keeps a Uuid as 32 hex digits, a Numeric as a float, a DateTime as naive UTC text with
# microseconds, a Boolean as 0/1; PostgreSQL reads COPY's text forms (the offset kept, an empty field NULL).
STORED = {
    "sqlite": _Stored(lambda u: u.hex, lambda c: c / 100, lambda b: None if b is None else int(b), None, True),
    "postgresql": _Stored(str, lambda c: f"{c // 100}.{c % 100:02d}", lambda b: "" if b is None else "tf"[not b],
                          "", False),
}


def _rows(count: int, rng: random.Random, now: datetime, dialect: str) -> list[tuple]:
    """``count`` rows of COLUMNS, each value as the dialect stores it."""
    stored = STORED[dialect]
    if stored.naive_utc:
        now = now.astimezone(UTC).replace(tzinfo=None)
    rows = []
    for _ in range(count):
        when = (now - timedelta(seconds=rng.randrange(1, DAYS * 86_400))).isoformat(" ", "microseconds")
        status, risk, kind = _decision(rng)
        labelled = rng.random() < LABELLED_SHARE[kind]
        rows.append((
            # Not from rng: its seed repeats when the table grows to the same size twice (growth_table, then
            # console), and ids drawn from it would collide with the seeded rows still there.
            stored.uuid(uuid.uuid4()),
            f"seed-{rng.randrange(CUSTOMERS)}",
            f"T-{rng.randrange(TERMINALS):05d}",
            stored.cents(rng.randrange(100, 50_000)),
            "EUR", when, status, risk,
            stored.flag(enters_queue(status, risk, settings.REVIEW_THRESHOLD)),
            stored.flag((rng.random() < (0.5 if kind == "blocked" else 0.05)) if labelled else None),
            when if labelled else stored.null,
            "[]", SEED_VERSION, "model", when, when,
        ))
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
            insert_rows(conn, "transactions", COLUMNS, _rows(chunk, rng, now, engine.dialect.name))
        count += chunk
    with engine.begin() as conn:
        rebuild_aggregates(conn)  # the rows above bypassed the service, which keeps them as it goes
        print(conn.scalar(select(func.count()).select_from(Transaction)))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
