"""Terminal day totals grow by appended changes, folded in the background: no row every capture updates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terminal_day_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("terminal_id", sa.String(128), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("tx_count", sa.Integer, nullable=False),
        sa.Column("amount_sum", sa.Float, nullable=False),
        sa.Column("amount_sq_sum", sa.Float, nullable=False),
        sa.Column("fraud_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_terminal_day_changes_terminal_day", "terminal_day_changes", ["terminal_id", "day"])


def downgrade() -> None:
    # Changes not folded yet go into the totals first.
    op.execute(
        "INSERT INTO terminal_days (terminal_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count) "
        "SELECT terminal_id, day, sum(tx_count), sum(amount_sum), sum(amount_sq_sum), sum(fraud_count) "
        "FROM terminal_day_changes WHERE true GROUP BY terminal_id, day "
        "ON CONFLICT (terminal_id, day) DO UPDATE SET tx_count = terminal_days.tx_count + excluded.tx_count, "
        "amount_sum = terminal_days.amount_sum + excluded.amount_sum, "
        "amount_sq_sum = terminal_days.amount_sq_sum + excluded.amount_sq_sum, "
        "fraud_count = terminal_days.fraud_count + excluded.fraud_count"
    )
    op.drop_index("ix_terminal_day_changes_terminal_day", table_name="terminal_day_changes")
    op.drop_table("terminal_day_changes")
