"""Transactions with their decisions, and per-day totals of customers and terminals.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _day_totals(name: str, key: str) -> None:
    op.create_table(
        name,
        sa.Column(key, sa.String(128), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("tx_count", sa.Integer, nullable=False),
        sa.Column("amount_sum", sa.Float, nullable=False),
        sa.Column("amount_sq_sum", sa.Float, nullable=False),
        sa.Column("fraud_count", sa.Integer, nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("terminal_id", sa.String(128), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("timestamp", sa.DateTime, nullable=False),
        sa.Column("is_fraud", sa.Boolean, nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("risk_score", sa.Float, nullable=True),
        sa.Column("anomaly_score", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("reasons", sa.JSON, nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_transactions_customer_timestamp", "transactions", ["customer_id", "timestamp"])
    _day_totals("customer_days", "customer_id")
    _day_totals("terminal_days", "terminal_id")


def downgrade() -> None:
    op.drop_table("terminal_days")
    op.drop_table("customer_days")
    op.drop_index("ix_transactions_customer_timestamp", table_name="transactions")
    op.drop_table("transactions")
