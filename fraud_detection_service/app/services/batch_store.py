"""The profile store read and written in bulk, for /predict/batch.

One /predict runs six statements; a batch of n would run 6n. Instead, everything the batch's features can
read - its customers' and terminals' day totals over every window its rows look at, and its customers'
transactions around its timestamps - is read in four statements into ml_model's ``InMemoryProfileStore``,
where the features are computed row after row (a later row sees the earlier ones, as one /predict after
another would), and the batch is written back in three: its transactions, then the day totals' increments
summed per customer and day (in key order, so concurrent writers lock rows in one order) or appended as
a terminal's changes (app/services/terminal_totals.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Executable, Row, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from app.db.tables import customer_days, transactions
from app.services.profile_store import (
    DAY_TOTALS_FIELDS,
    SCORED_COLUMNS,
    SHADOW_COLUMNS,
    add_terminal_changes,
    terminal_days_query,
)
from ml_model.features import BURST_WINDOW, MAX_GAP_HOURS, WINDOWS_DAYS
from ml_model.profile_store import DayTotals, InMemoryProfileStore, RecentTransaction, Transaction

_LONGEST = timedelta(days=max(WINDOWS_DAYS) - 1)


def _days_of(table: Table, key: str) -> Executable:
    return select(table.c[key], *(table.c[name] for name in DAY_TOTALS_FIELDS if name in table.c)).where(
        table.c[key].in_(bindparam("owners", expanding=True)),
        table.c.day >= bindparam("first"), table.c.day <= bindparam("last"))


def _add_days(insert: Any, table: Table, key: str) -> Executable:
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[key, "day"],
        set_={name: table.c[name] + statement.excluded[name] for name in ("tx_count", "amount_sum", "amount_sq_sum")},
    )


@cache
def _statements(dialect: Dialect) -> dict[str, Executable]:
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect.name]
    t = transactions.c
    mine = t.customer_id.in_(bindparam("customers", expanding=True))
    return {
        "known": select(t.transaction_id, *(t[name] for name in SCORED_COLUMNS)).where(
            t.transaction_id.in_(bindparam("ids", expanding=True))),
        "customer_days": _days_of(customer_days, "customer_id"),
        "terminal_days": terminal_days_query(lambda column: column.in_(bindparam("owners", expanding=True))),
        # Every transaction a row's 1-hour window can hold, oldest first ...
        "recent": select(t.customer_id, t.timestamp, t.amount)
        .where(mine, t.timestamp >= bindparam("since"), t.timestamp <= bindparam("until"))
        .order_by(t.customer_id, t.timestamp),
        # ... and, before those, only the newest one (the time since the previous purchase).
        "latest_before": select(t.customer_id, func.max(t.timestamp))
        .where(mine, t.timestamp >= bindparam("gap_since"), t.timestamp < bindparam("since"))
        .group_by(t.customer_id),
        "insert": insert(transactions).on_conflict_do_nothing(index_elements=["transaction_id"])
        .returning(t.transaction_id),
        "add_customer_days": _add_days(insert, customer_days, "customer_id"),
        "add_terminal_days": add_terminal_changes(),
    }


def known_answers(conn: Connection, ids: list[str]) -> dict[str, Row]:
    """The stored answer (``SCORED_COLUMNS``) of every id already recorded, by id."""
    rows = conn.execute(_statements(conn.dialect)["known"], {"ids": sorted(set(ids))})
    return {row.transaction_id: row for row in rows}


def read_history(conn: Connection, txs: list[Transaction], label_delay_days: int) -> InMemoryProfileStore:
    """An in-memory store holding what ``online_features`` reads for any of ``txs``, whatever their order."""
    store = InMemoryProfileStore()
    if not txs:
        return store
    sql = _statements(conn.dialect)
    customers = sorted({tx.customer_id for tx in txs})
    terminals = sorted({tx.terminal_id for tx in txs})
    first_day, last_day = min(tx.timestamp for tx in txs).date(), max(tx.timestamp for tx in txs).date()
    earliest, latest = min(tx.timestamp for tx in txs), max(tx.timestamp for tx in txs)
    delay = timedelta(days=label_delay_days)
    since = earliest - BURST_WINDOW
    store.add_history(
        customer_days=((row[0], DayTotals(*row[1:])) for row in conn.execute(
            sql["customer_days"], {"owners": customers, "first": first_day - _LONGEST, "last": last_day})),
        terminal_days=((row[0], DayTotals(*row[1:])) for row in conn.execute(
            sql["terminal_days"], {"owners": terminals, "first": first_day - delay - _LONGEST,
                                   "last": last_day - delay})),
        customer_transactions=[
            *((row[0], RecentTransaction(row[1], row[2])) for row in conn.execute(
                sql["recent"], {"customers": customers, "since": since, "until": latest})),
            # Older than every row's 1-hour window, so its amount is never read.
            *((row[0], RecentTransaction(row[1], 0.0)) for row in conn.execute(
                sql["latest_before"], {"customers": customers, "since": since,
                                       "gap_since": earliest - timedelta(hours=MAX_GAP_HOURS)})
              if row[1] is not None),
        ],
    )
    return store


def write_batch(conn: Connection, scored: list[tuple[Transaction, dict[str, Any]]]) -> int:
    """Insert the transactions (each with its answer: ``SCORED_COLUMNS`` and ``SHADOW_COLUMNS``) and add them
    to their day totals; returns how many were inserted. Fewer than given means another request recorded
    one of the ids meanwhile: the caller must then roll back, since the day totals counted every one."""
    if not scored:
        return 0
    sql = _statements(conn.dialect)
    recorded_at = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp here
    inserted = conn.execute(sql["insert"], [
        {"transaction_id": tx.transaction_id, "customer_id": tx.customer_id, "terminal_id": tx.terminal_id,
         "amount": tx.amount, "timestamp": tx.timestamp, "recorded_at": recorded_at,
         **{name: answer.get(name) for name in (*SCORED_COLUMNS, *SHADOW_COLUMNS)}}
        for tx, answer in scored
    ]).all()
    for statement, key, owner_of in (("add_customer_days", "customer_id", _customer),
                                     ("add_terminal_days", "terminal_id", _terminal)):
        conn.execute(sql[statement], _day_increments(key, owner_of, [tx for tx, _ in scored]))
    return len(inserted)


def _customer(tx: Transaction) -> str:
    return tx.customer_id


def _terminal(tx: Transaction) -> str:
    return tx.terminal_id


def _day_increments(key: str, owner_of: Any, txs: list[Transaction]) -> list[dict[str, Any]]:
    """One row per (owner, day), in key order: count, amount sum (added in batch order) and sum of squares."""
    sums: dict[tuple[str, date], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for tx in txs:
        acc = sums[owner_of(tx), tx.timestamp.date()]
        acc[0] += 1
        acc[1] += tx.amount
        acc[2] += tx.amount * tx.amount
    return [{key: owner, "day": day, "tx_count": acc[0], "amount_sum": acc[1], "amount_sq_sum": acc[2],
             "fraud_count": 0} for (owner, day), acc in sorted(sums.items())]
