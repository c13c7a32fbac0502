"""Schema of the fraud service's own database (created by the Alembic migrations in ../alembic).

SQLAlchemy Core rather than the ORM: the request path runs a handful of small statements and the ORM's
unit-of-work bookkeeping would cost more than the queries themselves.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

transactions = Table(
    "transactions",
    metadata,
    Column("transaction_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("terminal_id", String(128), nullable=False),
    Column("amount", Float, nullable=False),
    Column("timestamp", DateTime, nullable=False),  # naive UTC
    Column("is_fraud", Boolean, nullable=True),  # confirmed label, None until feedback arrives
    # The model's answer, kept so a retried /predict returns the first decision instead of
    # re-scoring a transaction that is now part of its own history. None when recorded via feedback.
    Column("decision", String(16), nullable=True),
    Column("risk_score", Float, nullable=True),
    Column("anomaly_score", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("reasons", JSON, nullable=True),
    Column("model_version", String(64), nullable=True),
    # The challenger's shadow answer (app/services/shadow.py), never returned; None when no challenger was loaded.
    Column("challenger_decision", String(16), nullable=True),
    Column("challenger_risk_score", Float, nullable=True),
    Column("challenger_model_version", String(64), nullable=True),
    # [{"feature", "value", "contribution"}, ...] of every model feature, as answered (migration 0003).
    Column("contributions", JSON, nullable=True),
    Column("recorded_at", DateTime, nullable=False),
    # customer_activity(): one customer's transactions in a time range (burst count, latest timestamp), and
    # their amounts without visiting the rows (migration 0006).
    Index("ix_transactions_customer_timestamp", "customer_id", "timestamp", "amount"),
)


def _day_totals_table(name: str, key: str, *extra: Column) -> Table:
    return Table(
        name,
        metadata,
        Column(key, String(128), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("tx_count", Integer, nullable=False, default=0),
        Column("amount_sum", Float, nullable=False, default=0.0),
        Column("amount_sq_sum", Float, nullable=False, default=0.0),
        Column("fraud_count", Integer, nullable=False, default=0),
        *extra,
    )


# Per-day totals: a window read costs O(window days). A customer's are updated in the same transaction as
# the insert; a terminal's grow by appended changes, folded in the background (app/services/terminal_totals.py), so
# captures of different customers at one terminal never update one row.
customer_days = _day_totals_table("customer_days", "customer_id")
# labelled_count: the denominator of the terminal's fraud rate (frauds ÷ labelled transactions).
terminal_days = _day_totals_table("terminal_days", "terminal_id",
                                  Column("labelled_count", Integer, nullable=False, server_default="0"))
# Emptied by every fold; on PostgreSQL a vacuum keeps its pages (vacuum_truncate off, migration 0007), so the
# reads' plans keep its index.
terminal_day_changes = Table(
    "terminal_day_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("terminal_id", String(128), nullable=False),
    Column("day", Date, nullable=False),
    Column("tx_count", Integer, nullable=False),
    Column("amount_sum", Float, nullable=False),
    Column("amount_sq_sum", Float, nullable=False),
    Column("fraud_count", Integer, nullable=False),
    Column("labelled_count", Integer, nullable=False, server_default="0"),
    Index("ix_terminal_day_changes_terminal_day", "terminal_id", "day"),
)
