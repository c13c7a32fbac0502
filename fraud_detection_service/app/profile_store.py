"""``ml_model.profile_store.ProfileStore`` on this service's database.

Each instance works on one SQLAlchemy connection and leaves transaction boundaries to its caller, so a
transaction row and its day totals are written together or not at all. Inserts use the dialect's
``ON CONFLICT`` so two concurrent requests for the same transaction id cannot both count it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.tables import customer_days, terminal_days, transactions
from ml_model.profile_store import DayTotals, RecentTransaction, Transaction

_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

_DAY_TOTALS_FIELDS = ("day", "tx_count", "amount_sum", "amount_sq_sum", "fraud_count")
# What /predict stores with a transaction and answers again on a retry.
SCORED_COLUMNS = ("decision", "risk_score", "anomaly_score", "threshold", "reasons", "model_version")


class SqlProfileStore:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._insert = _INSERT[connection.dialect.name]

    def customer_days(self, customer_id: str, first: date, last: date) -> list[DayTotals]:
        return self._days(customer_days, customer_days.c.customer_id == customer_id, first, last)

    def terminal_days(self, terminal_id: str, first: date, last: date) -> list[DayTotals]:
        return self._days(terminal_days, terminal_days.c.terminal_id == terminal_id, first, last)

    def _days(self, table: Table, owner: Any, first: date, last: date) -> list[DayTotals]:
        rows = self._conn.execute(
            select(*(table.c[name] for name in _DAY_TOTALS_FIELDS))
            .where(owner, table.c.day >= first, table.c.day <= last)
            .order_by(table.c.day)
        )
        return [DayTotals(*row) for row in rows]

    def customer_recent(self, customer_id: str, since: datetime, limit: int) -> list[RecentTransaction]:
        t = transactions.c
        rows = self._conn.execute(
            select(t.timestamp, t.terminal_id, t.amount)
            .where(t.customer_id == customer_id, t.timestamp >= since)
            .order_by(t.timestamp.desc())
            .limit(limit)
        )
        return [RecentTransaction(*row) for row in rows]

    def record_transaction(self, tx: Transaction) -> bool:
        return self.record_scored(tx, {})

    def record_scored(self, tx: Transaction, scored: dict[str, Any]) -> bool:
        """Record ``tx`` with the model's answer (``SCORED_COLUMNS``); False when the id is known."""
        inserted = self._conn.execute(
            self._insert(transactions)
            .values(
                transaction_id=tx.transaction_id,
                customer_id=tx.customer_id,
                terminal_id=tx.terminal_id,
                amount=tx.amount,
                timestamp=tx.timestamp,
                recorded_at=datetime.now(UTC).replace(tzinfo=None),  # naive UTC, as every timestamp here
                **{k: scored[k] for k in SCORED_COLUMNS if k in scored},
            )
            .on_conflict_do_nothing(index_elements=["transaction_id"])
        )
        if inserted.rowcount == 0:
            return False
        day = tx.timestamp.date()
        self._add_to_day(customer_days, "customer_id", tx.customer_id, day, tx.amount)
        self._add_to_day(terminal_days, "terminal_id", tx.terminal_id, day, tx.amount)
        return True

    def _add_to_day(self, table: Table, key: str, owner: str, day: date, amount: float) -> None:
        statement = self._insert(table).values(
            {key: owner, "day": day, "tx_count": 1, "amount_sum": amount,
             "amount_sq_sum": amount * amount, "fraud_count": 0}
        )
        self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[key, "day"],
                set_={
                    "tx_count": table.c.tx_count + 1,
                    "amount_sum": table.c.amount_sum + amount,
                    "amount_sq_sum": table.c.amount_sq_sum + amount * amount,
                },
            )
        )

    def record_label(self, transaction_id: str, is_fraud: bool) -> bool:
        t = transactions.c
        row = self._conn.execute(
            select(t.terminal_id, t.timestamp, t.is_fraud)
            .where(t.transaction_id == transaction_id)
            .with_for_update()  # a concurrent label for the same transaction waits (PostgreSQL)
        ).first()
        if row is None:
            return False
        self._conn.execute(
            update(transactions).where(t.transaction_id == transaction_id).values(is_fraud=is_fraud)
        )
        change = int(is_fraud) - int(bool(row.is_fraud))
        if change:
            days = terminal_days.c
            self._conn.execute(
                update(terminal_days)
                .where(days.terminal_id == row.terminal_id, days.day == row.timestamp.date())
                .values(fraud_count=days.fraud_count + change)
            )
        return True

    def scored_result(self, transaction_id: str) -> Row | None:
        """The stored answer for a known transaction (columns ``SCORED_COLUMNS``; decision None when
        it was recorded without scoring), or None for an unknown id."""
        t = transactions.c
        columns = [getattr(t, name) for name in SCORED_COLUMNS]
        return self._conn.execute(select(*columns).where(t.transaction_id == transaction_id)).first()
