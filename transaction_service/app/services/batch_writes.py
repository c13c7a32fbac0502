"""A capture's two writes for many captures at once: new PENDING rows, and decisions with their review-queue
moves. Each function writes a list in one transaction and one commit; ``CaptureWriters`` hands them the
writes that concurrent captures submit together (fastapi_plumbing.group_commit).

PostgreSQL: each list is ONE statement, prepared once per session (fastapi_plumbing.prepared) and committed
on its own, whatever its length: one array per column, unnested on the server. Measured on the server's
CPU, that beat one EXECUTE per row inside a transaction (2-3x more per row at 5-20 rows) and a multi-row
VALUES (re-parsed and re-planned each time, worse than a prepared statement for a single row):
docs/performance.md. SQLite: the prepared per-row statements inside one transaction (in-process, nothing
to gain from one statement).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from sqlalchemy import Dialect, Engine, bindparam, insert, text, update

from app.models import ReviewQueueChange, Transaction
from app.statuses import PENDING
from fastapi_plumbing.database import autocommit
from fastapi_plumbing.group_commit import GroupCommit
from fastapi_plumbing.prepared import Prepared
from fastapi_plumbing.unnest import arrays, names, value

_TRANSACTIONS = Transaction.__table__


@dataclass(frozen=True)
class DecisionWrite:
    """One decision for the row ``txn_id``, written only while the row is PENDING."""
    txn_id: Any
    values: dict  # every column of DECISION_COLUMNS
    move: dict | None  # its review-queue move (review_queue.queue_move) when the decision enters the queue


# The columns a new row is stored with, every one given (a Prepared statement computes no defaults).
NEW_ROW_COLUMNS = ("id", "customer_id", "terminal_id", "amount", "currency", "timestamp", "status", "reasons",
                   "created_at", "queued_for_review")
DECISION_COLUMNS = ("status", "risk_score", "reasons", "model_version", "contributions", "decided_by", "decided_at",
                    "queued_for_review")
# SQLite, per decision: written only onto a PENDING row, so a request and the rescue loop cannot both write one.
_DECIDE_IF_PENDING = update(_TRANSACTIONS).where(
    _TRANSACTIONS.c.id == bindparam("decided_id"), _TRANSACTIONS.c.status == PENDING,
).values({name: bindparam(name, type_=_TRANSACTIONS.c[name].type) for name in DECISION_COLUMNS})
_CHANGES = ReviewQueueChange.__table__
MOVE_COLUMNS = ("status", "decided_by", "label", "delta")  # review_queue.queue_move's


@dataclass(frozen=True)
class _Statements:
    insert_row: Prepared  # one row: the Idempotency-Key path on both databases, every row on SQLite
    decide: Prepared | None  # SQLite
    append_move: Prepared | None  # SQLite: after a decision that won, in its transaction
    insert_rows: Prepared | None  # PostgreSQL: any number of rows
    # PostgreSQL: any number of decisions and the moves of those that won; returns the 1-based position of
    # each write that found its row PENDING.
    decide_many: Prepared | None


@cache
def statements(dialect: Dialect) -> _Statements:
    insert_row = Prepared.compile(insert(_TRANSACTIONS), dialect, NEW_ROW_COLUMNS)
    if dialect.name != "postgresql":
        return _Statements(insert_row, Prepared.compile(_DECIDE_IF_PENDING, dialect),
                           Prepared.compile(insert(_CHANGES), dialect, MOVE_COLUMNS),
                           None, None)
    new = [_TRANSACTIONS.c[name] for name in NEW_ROW_COLUMNS]
    arguments, params = arrays(dialect, new)
    insert_rows = text(
        f"INSERT INTO {_TRANSACTIONS.name} ({names(new)}) "  # noqa: S608 - names and types of our own table
        f"SELECT {', '.join(value(c, 'new') for c in new)} FROM unnest({arguments}) AS new ({names(new)})"
    ).bindparams(*params)

    decided = [_TRANSACTIONS.c.id] + [_TRANSACTIONS.c[name] for name in DECISION_COLUMNS]
    arguments, params = arrays(dialect, decided)
    moves = [_CHANGES.c[name] for name in MOVE_COLUMNS]
    move_arguments, move_params = arrays(dialect, moves, prefix="move_")
    assignments = ", ".join(f"{names([c])} = {value(c, 'd')}" for c in decided[1:])
    # WITH ORDINALITY: each write learns whether it won, even with two writes for one row in a batch (the
    # row is updated once, by one of them). Each write's queue move (DecisionWrite.move, NULLs for none) is
    # appended for exactly the writes that won, in the same statement and commit.
    decide_many = text(
        f"WITH decided AS (UPDATE {_TRANSACTIONS.name} SET {assignments} "  # noqa: S608 - our own table
        f"FROM unnest({arguments}) WITH ORDINALITY AS d ({names(decided)}, n) "
        f"WHERE {_TRANSACTIONS.name}.id = d.id AND {_TRANSACTIONS.name}.status = :pending RETURNING d.n), "
        f"moved AS (INSERT INTO {_CHANGES.name} ({names(moves)}) SELECT {names(moves)} "
        f"FROM unnest({move_arguments}) WITH ORDINALITY AS m ({names(moves)}, n) JOIN decided USING (n) "
        f"WHERE m.delta IS NOT NULL) "
        f"SELECT n FROM decided"
    ).bindparams(*params, *move_params, bindparam("pending", PENDING))
    return _Statements(insert_row, None, None, Prepared.compile(insert_rows, dialect),
                       Prepared.compile(decide_many, dialect))


def _by_column(rows: Sequence[dict], names: Sequence[str]) -> dict[str, list]:
    return {name: [row[name] for row in rows] for name in names}


# PostgreSQL: the PENDING rows' commit does not wait for its WAL flush. What must survive is the decision
# answered to the client, and its commit (synchronous) flushes the WAL up to it, this row's insert included.
# The PENDING commit protects against the transaction service dying during the fraud call (the rescue then
# finds the row), which an asynchronous commit survives as well: the WAL is the server's. Only a crash of
# the database server itself within ~3 x wal_writer_delay can lose such a row, and then its capture has not
# been answered (its decision's write fails or finds no row). Measured: docs/performance.md, "round five".


def insert_pending(engine: Engine, rows: Sequence[dict]) -> list[None]:
    """Insert new rows (every column of NEW_ROW_COLUMNS given) in one commit."""
    sql = statements(engine.dialect)
    if sql.insert_rows is not None:
        with autocommit(engine) as connection:
            sql.insert_rows.execute(connection, _by_column(rows, NEW_ROW_COLUMNS), commit_waits_for_flush=False).close()
    else:
        with engine.begin() as connection:
            for row in rows:
                sql.insert_row.execute(connection, row).close()
    return [None] * len(rows)


def write_decisions(engine: Engine, writes: Sequence[DecisionWrite]) -> list[bool]:
    """Write each decision onto its row if still PENDING, with its queue move, all in one commit; returns
    for each whether it won (False: another decider wrote the row first)."""
    sql = statements(engine.dialect)
    if sql.decide_many is not None:
        params = _by_column([w.values for w in writes], DECISION_COLUMNS)
        params["id"] = [w.txn_id for w in writes]
        for name in MOVE_COLUMNS:
            params[f"move_{name}"] = [w.move[name] if w.move is not None else None for w in writes]
        with autocommit(engine) as connection:
            cursor = sql.decide_many.execute(connection, params)
            try:
                won = {n for (n,) in cursor.fetchall()}
            finally:
                cursor.close()
        return [position in won for position in range(1, len(writes) + 1)]
    results = []
    with engine.begin() as connection:
        for write in writes:
            cursor = sql.decide.execute(connection, {"decided_id": write.txn_id, **write.values})
            won = cursor.rowcount == 1
            cursor.close()
            if won and write.move is not None:
                sql.append_move.execute(connection, write.move).close()
            results.append(won)
    return results


class CaptureWriters:
    """The lifespan's writers of PENDING rows and decisions, one of each per process."""

    def __init__(self, engine: Engine) -> None:
        self.pending: GroupCommit[dict, None] = GroupCommit(engine, partial(insert_pending, engine))
        self.decisions: GroupCommit[DecisionWrite, bool] = GroupCommit(engine, partial(write_decisions, engine))

    async def drain(self) -> None:
        await self.pending.drain()
        await self.decisions.drain()
