"""Per-feature contributions stored with each prediction, beside its reasons and model version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows recorded through /feedback, or scored before this revision, have none.
    op.add_column("transactions", sa.Column("contributions", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("contributions")
