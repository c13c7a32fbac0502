"""The fraud service's per-feature contributions, stored with each model decision for staff views.

Revision ID: 0003_contributions
Revises: 0002_console
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_contributions"
down_revision = "0002_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: fallback decisions and rows decided before this revision have none.
    op.add_column("transactions", sa.Column("contributions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("contributions")
