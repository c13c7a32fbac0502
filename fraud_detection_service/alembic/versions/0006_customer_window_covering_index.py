"""The customer/timestamp index carries the amount: the 1-hour window read is an index-only scan.

/predict sums the amounts of the customer's latest (up to 100) transactions of the last hour; with the
amount in the index that read no longer visits each row in the table, where a stored prediction (with
its reasons and contributions) fills a third of a page.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "ix_transactions_customer_timestamp"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="transactions")
    op.create_index(INDEX, "transactions", ["customer_id", "timestamp", "amount"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="transactions")
    op.create_index(INDEX, "transactions", ["customer_id", "timestamp"])
