"""The profile store read and written in bulk, for /predict/batch and /predict's batches of records.

One /predict runs six statements; a batch of n would run 6n. Instead, everything the batch's features can
read - its customers' and terminals' day totals over every window its rows look at, and its customers'
transactions around its timestamps - is read in four statements into ml_model's ``StoredHistory``, from
which ``online_features_batch`` computes every row's features at once (a later row sees the earlier ones,
as one /predict after another would), and the batch is written back: its transactions, then the day
totals' increments summed per customer and day (in key order, so concurrent writers lock rows in one order)
or appended as a terminal's changes (app/services/terminal_totals.py). On SQLite three multi-row statements;
on PostgreSQL one prepared statement, whatever the batch's length (``_RECORD_POSTGRES``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from fastapi_plumbing.prepared import Prepared
from fastapi_plumbing.unnest import arrays, by_column, names, value
from sqlalchemy import JSON, Connection, Executable, Row, Table, bindparam, func, select, text
from sqlalchemy.engine import Dialect

from app.db.tables import customer_days, terminal_day_changes, transactions
from app.services.profile_store import SCORED_COLUMNS, SHADOW_COLUMNS, SqlProfileStore, terminal_days_query
from app.services.risk_engine import Verdict
from ml_model.features import BURST_WINDOW, MAX_GAP_HOURS, WINDOWS_DAYS
from ml_model.profile_store import StoredHistory, Transaction

_LONGEST = timedelta(days=max(WINDOWS_DAYS) - 1)


@cache
def _statements(dialect: Dialect) -> dict[str, Executable]:
    t = transactions.c
    mine = t.customer_id.in_(bindparam("customers", expanding=True))
    return {
        "known": select(t.transaction_id, *(t[name] for name in SCORED_COLUMNS)).where(
            t.transaction_id.in_(bindparam("ids", expanding=True))),
        "customer_days": select(*(customer_days.c[name] for name in ("customer_id", "day", "tx_count", "amount_sum")))
        .where(customer_days.c.customer_id.in_(bindparam("owners", expanding=True)),
               customer_days.c.day >= bindparam("first"), customer_days.c.day <= bindparam("last")),
        "terminal_days": terminal_days_query(lambda column: column.in_(bindparam("owners", expanding=True))),
        # Every transaction a row's 1-hour window can hold, oldest first ...
        "recent": select(t.customer_id, t.timestamp, t.amount)
        .where(mine, t.timestamp >= bindparam("since"), t.timestamp <= bindparam("until"))
        .order_by(t.customer_id, t.timestamp),
        # ... and, before those, only the newest one (the time since the previous purchase).
        "latest_before": select(t.customer_id, func.max(t.timestamp))
        .where(mine, t.timestamp >= bindparam("gap_since"), t.timestamp < bindparam("since"))
        .group_by(t.customer_id),
    }


def known_answers(conn: Connection, ids: list[str]) -> dict[str, Row]:
    """The stored answer (``SCORED_COLUMNS``) of every id already recorded, by id."""
    rows = conn.execute(_statements(conn.dialect)["known"], {"ids": sorted(set(ids))})
    return {row.transaction_id: row for row in rows}


def read_history(conn: Connection, txs: list[Transaction], label_delay_days: int) -> StoredHistory:
    """What ``online_features_batch`` reads for ``txs``, whatever their order."""
    if not txs:
        return StoredHistory()
    sql = _statements(conn.dialect)
    customers = sorted({tx.customer_id for tx in txs})
    terminals = sorted({tx.terminal_id for tx in txs})
    earliest, latest = min(tx.timestamp for tx in txs), max(tx.timestamp for tx in txs)
    first_day, last_day = earliest.date(), latest.date()
    delay = timedelta(days=label_delay_days)
    since = earliest - BURST_WINDOW
    terminal_days = conn.execute(sql["terminal_days"], {"owners": terminals, "first": first_day - delay - _LONGEST,
                                                        "last": last_day - delay})
    # Older than every row's 1-hour window, so only its timestamp is read (the time since the previous purchase).
    latest_before = conn.execute(sql["latest_before"], {"customers": customers, "since": since,
                                                        "gap_since": earliest - timedelta(hours=MAX_GAP_HOURS)})
    return StoredHistory(
        customer_days=conn.execute(sql["customer_days"], {"owners": customers, "first": first_day - _LONGEST,
                                                          "last": last_day}).all(),
        terminal_days=[(row.terminal_id, row.day, row.tx_count, row.fraud_count, row.labelled_count)
                       for row in terminal_days],
        customer_transactions=[
            *conn.execute(sql["recent"], {"customers": customers, "since": since, "until": latest}).all(),
            *((customer, when, 0.0) for customer, when in latest_before if when is not None),
        ],
    )


def write_batch(conn: Connection, txs: list[Transaction], verdicts: list[Verdict],
                shadows: list[dict[str, Any]]) -> list[bool]:
    """Insert the transactions with their answers (and the challenger's, ``SHADOW_COLUMNS``) and add the ones
    inserted to their day totals; returns, per transaction, whether it was inserted (False: its id was
    already recorded, by another request meanwhile or earlier in ``txs``). Inside the caller's transaction
    on SQLite; on PostgreSQL one statement (atomic on its own, so in autocommit it is the batch's commit)."""
    if not txs:
        return []
    if len(txs) == 1:  # the one-row statements, prepared once per connection
        (tx,), (verdict,), (shadow,) = txs, verdicts, shadows
        return [SqlProfileStore(conn).record_scored(tx, {**verdict.stored_columns(), **shadow})]
    writes = _writes(conn.dialect)
    recorded_at = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp here
    # In id order: two batches that share ids (two workers answering one retried id) wait for each other's
    # rows in one order, never in a cycle.
    rows = sorted(
        ((tx.transaction_id, tx.customer_id, tx.terminal_id, tx.amount, tx.timestamp, recorded_at, v.decision,
          v.risk_score, v.anomaly_score, v.threshold, v.reasons_json, v.model_version, v.contributions_json,
          *(shadow.get(name) for name in SHADOW_COLUMNS))
         for tx, v, shadow in zip(txs, verdicts, shadows, strict=True)), key=lambda row: row[0])
    if writes["recorded"] is not None:  # PostgreSQL: the increments select from the insert's RETURNING
        params = by_column(rows, _INSERTED)
        params["order_transaction_id"] = [tx.transaction_id for tx in txs]  # summed in batch order, as on SQLite
        inserted = {row[0] for row in writes["recorded"].rows(conn, params)}
    else:
        inserted = {row[0] for row in rows if writes["transactions"].run(conn, [row])}
        fresh = [tx for tx in _first_of_each(txs) if tx.transaction_id in inserted]
        writes["customer_days"].run(conn, _day_increments(_customer, fresh))
        writes["terminal_changes"].run(conn, _day_increments(_terminal, fresh))
    answered = []
    for tx in txs:  # an id given twice was inserted once, by its first occurrence
        answered.append(tx.transaction_id in inserted)
        inserted.discard(tx.transaction_id)
    return answered


def _first_of_each(txs: list[Transaction]) -> list[Transaction]:
    """Each id's first occurrence, in batch order (the order the day totals add the amounts in)."""
    first: dict[str, Transaction] = {}
    for tx in txs:
        first.setdefault(tx.transaction_id, tx)
    return list(first.values())


class _Bulk:
    """SQLite: one multi-row write on the DBAPI cursor (``executemany``, a C loop), inside the transaction
    SQLAlchemy began. Through ``Connection.execute`` SQLAlchemy's per-row parameter processing cost more than
    the database's work (~40 % of a batch's write, profiled). Values are converted by the columns' own bind
    processors, so they are stored exactly as SQLAlchemy stores them (dates and datetimes as text); JSON
    columns receive JSON text, encoded once for the database and the response alike."""

    def __init__(self, dialect: Dialect, table: Table, columns: tuple[str, ...], conflict: str) -> None:
        # Table and column names from app/db/tables.py, never from input.
        self.sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' * len(columns))}) {conflict}")
        processors = [None if isinstance(table.c[name].type, JSON) else
                      table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
        self.convert = [(k, p) for k, p in enumerate(processors) if p is not None]

    def run(self, conn: Connection, rows: list[tuple[Any, ...]]) -> int:
        """Writes ``rows`` (values in ``columns`` order); returns how many rows were inserted or updated."""
        if not rows:
            return 0
        if self.convert:
            rows = [self._converted(row) for row in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, rows)
            return cursor.rowcount
        finally:
            cursor.close()

    def _converted(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for k, process in self.convert:
            if values[k] is not None:
                values[k] = process(values[k])
        return tuple(values)


_DAY_COLUMNS = ("day", "tx_count", "amount_sum", "amount_sq_sum", "fraud_count")


# PostgreSQL: the rows (one array per column, fastapi_plumbing.unnest: one prepared statement whatever the
# batch's length), and their day totals' increments summed per customer (in key order: concurrent writers
# lock the rows in one order) and per terminal from the insert's RETURNING, so an id already recorded adds
# nothing: one statement, one round trip. The amounts are summed in the batch's order (``order``, its ids),
# as ``_day_increments`` sums them: a batch then stores the very sums one prediction after another gives
# (tests/test_batch_predictions.py). Returns the ids inserted.
_RECORD_POSTGRES = """
    WITH stored AS (
        INSERT INTO transactions ({columns}) SELECT {values} FROM unnest({arrays}) AS new ({columns})
        ON CONFLICT (transaction_id) DO NOTHING
        RETURNING transaction_id, customer_id, terminal_id, amount, "timestamp"
    ), by_day AS (
        SELECT customer_id, terminal_id, CAST("timestamp" AS date) AS day, amount,
               array_position({order}, transaction_id) AS position FROM stored
    ), customer AS (
        INSERT INTO customer_days (customer_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count)
        SELECT customer_id, day, count(*), sum(amount ORDER BY position), sum(amount * amount ORDER BY position), 0
        FROM by_day GROUP BY customer_id, day ORDER BY customer_id, day
        ON CONFLICT (customer_id, day) DO UPDATE SET {added}
    ), terminal AS (
        INSERT INTO terminal_day_changes (terminal_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count)
        SELECT terminal_id, day, count(*), sum(amount ORDER BY position), sum(amount * amount ORDER BY position), 0
        FROM by_day GROUP BY terminal_id, day
    )
    SELECT transaction_id FROM stored
"""


def _recorded(dialect: Dialect, added: str) -> Prepared:
    columns = [transactions.c[name] for name in _INSERTED]
    arguments, params = arrays(dialect, columns, json_encoded=True)
    order, order_params = arrays(dialect, [transactions.c.transaction_id], prefix="order_")
    return Prepared.compile(text(_RECORD_POSTGRES.format(  # table and column names of our own, never input
        columns=names(columns), values=", ".join(value(c, "new") for c in columns), arrays=arguments,
        order=order, added=added)).bindparams(*params, *order_params).columns(transactions.c.transaction_id), dialect)


@cache
def _writes(dialect: Dialect) -> dict[str, Any]:
    added = ", ".join(f"{name} = customer_days.{name} + excluded.{name}" for name in _DAY_COLUMNS[1:4])
    if dialect.name == "postgresql":
        return {"recorded": _recorded(dialect, added)}
    return {
        "recorded": None,
        "transactions": _Bulk(dialect, transactions, _INSERTED, "ON CONFLICT (transaction_id) DO NOTHING"),
        # Summed per customer and day, in key order: concurrent writers lock the rows in one order.
        "customer_days": _Bulk(dialect, customer_days, ("customer_id", *_DAY_COLUMNS),
                               f"ON CONFLICT (customer_id, day) DO UPDATE SET {added}"),
        # A terminal's are appended as changes (app/services/terminal_totals.py).
        "terminal_changes": _Bulk(dialect, terminal_day_changes, ("terminal_id", *_DAY_COLUMNS), ""),
    }


_INSERTED = ("transaction_id", "customer_id", "terminal_id", "amount", "timestamp", "recorded_at", *SCORED_COLUMNS,
             *SHADOW_COLUMNS)


def _customer(tx: Transaction) -> str:
    return tx.customer_id


def _terminal(tx: Transaction) -> str:
    return tx.terminal_id


def _day_increments(owner_of: Any, txs: list[Transaction]) -> list[tuple[Any, ...]]:
    """One row per (owner, day), in key order: owner, day, count, amount sum (added in batch order), sum of
    squares, no fraud."""
    sums: dict[tuple[str, date], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for tx in txs:
        acc = sums[owner_of(tx), tx.timestamp.date()]
        acc[0] += 1
        acc[1] += tx.amount
        acc[2] += tx.amount * tx.amount
    return [(owner, day, acc[0], acc[1], acc[2], 0) for (owner, day), acc in sorted(sums.items())]
