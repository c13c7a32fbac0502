"""A terminal's day totals without a row every capture updates.

Were every capture to add itself to the terminal's row for the day (an upsert), captures of different
customers at one busy terminal would queue on that row's lock in PostgreSQL. Instead a capture (and a
label) appends its increment to ``terminal_day_changes``, which nothing else writes to, and a window read
adds the folded totals (``terminal_days``) and the changes not folded yet, per day, in one statement (one
snapshot). ``fold`` moves the changes into the totals: the service runs it every
``TERMINAL_FOLD_SECONDS`` in the background, so a read sums at most a window's days plus the captures of
the last interval. Folds wait only for each other (on PostgreSQL a fold that finds another running skips
its turn); the capture path never waits for one.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi_plumbing.database import in_threadpool
from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)
_FOLD_LOCK = 1_701_720_417  # pg advisory lock key of the fold ("terminal" folds, any stable number)
# Adds the summed changes of {source} to the folded totals (the same upsert on both databases).
_ADD_TO_TOTALS = """
    INSERT INTO terminal_days (terminal_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count, labelled_count)
    SELECT terminal_id, day, sum(tx_count), sum(amount_sum), sum(amount_sq_sum), sum(fraud_count),
           sum(labelled_count)
    FROM {source} GROUP BY terminal_id, day
    ON CONFLICT (terminal_id, day) DO UPDATE SET
        tx_count = terminal_days.tx_count + excluded.tx_count,
        amount_sum = terminal_days.amount_sum + excluded.amount_sum,
        amount_sq_sum = terminal_days.amount_sq_sum + excluded.amount_sq_sum,
        fraud_count = terminal_days.fraud_count + excluded.fraud_count,
        labelled_count = terminal_days.labelled_count + excluded.labelled_count
"""
# PostgreSQL: the changes deleted and added to the totals in one statement, so a change committed meanwhile
# is either moved or left for the next fold, never deleted unfolded.
_MOVE_CHANGES = """
    WITH moved AS (DELETE FROM terminal_day_changes
                   RETURNING terminal_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count, labelled_count)
"""
_FOLD_POSTGRES = text(_MOVE_CHANGES + _ADD_TO_TOTALS.format(source="moved"))  # noqa: S608 (module constants)
# SQLite has one writer: inside the write transaction nothing commits between the two statements.
_FOLD_SQLITE = (
    text(_ADD_TO_TOTALS.format(source="terminal_day_changes WHERE id <= :last")),  # noqa: S608 (constants)
    text("DELETE FROM terminal_day_changes WHERE id <= :last"),
)


def fold(db: Engine) -> int:
    """Move the appended changes into ``terminal_days``; returns how many totals rows it wrote (0: nothing
    to fold, or another worker is folding)."""
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _FOLD_LOCK}).scalar():
                return 0  # another worker is folding
            return conn.execute(_FOLD_POSTGRES).rowcount
        last = conn.execute(text("SELECT max(id) FROM terminal_day_changes")).scalar()
        if last is None:
            return 0
        conn.execute(_FOLD_SQLITE[0], {"last": last})
        return conn.execute(_FOLD_SQLITE[1], {"last": last}).rowcount


async def fold_every(db: Engine, seconds: float) -> None:
    """``fold`` every ``seconds`` until cancelled; a failed fold is logged and retried (reads stay exact:
    they add the changes not folded yet)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await in_threadpool(fold, db)  # counted: /predict's read stays off the loop meanwhile
        except Exception:  # noqa: BLE001 - the loop must outlive a database outage
            logger.exception("folding terminal day changes failed; retrying in %.1f s", seconds)
