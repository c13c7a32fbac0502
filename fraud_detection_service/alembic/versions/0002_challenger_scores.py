"""The challenger's shadow answer beside the champion's: its decision, risk score and version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("challenger_decision", sa.String(16), nullable=True))
        batch.add_column(sa.Column("challenger_risk_score", sa.Float, nullable=True))
        batch.add_column(sa.Column("challenger_model_version", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("challenger_model_version")
        batch.drop_column("challenger_risk_score")
        batch.drop_column("challenger_decision")
