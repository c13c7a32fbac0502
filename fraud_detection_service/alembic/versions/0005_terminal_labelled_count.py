"""Terminal days count their labelled transactions: the fraud rate is frauds ÷ labelled transactions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("terminal_days", "terminal_day_changes"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("labelled_count", sa.Integer, nullable=False, server_default="0"))
    # Labels already recorded count too: appended as changes (app/services/terminal_totals.py), so they land on the
    # right day whether that day's totals are folded yet or not.
    day_of = "CAST(timestamp AS DATE)" if op.get_bind().dialect.name == "postgresql" else "date(timestamp)"
    op.execute(
        "INSERT INTO terminal_day_changes (terminal_id, day, tx_count, amount_sum, amount_sq_sum, fraud_count, "
        f"labelled_count) SELECT terminal_id, {day_of}, 0, 0.0, 0.0, 0, count(*) FROM transactions "
        f"WHERE is_fraud IS NOT NULL GROUP BY terminal_id, {day_of}"
    )


def downgrade() -> None:
    for table in ("terminal_day_changes", "terminal_days"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("labelled_count")
