"""review queue changes: appended moves folded into review_queue_counts

Revision ID: 0005_queue_changes
Revises: 0004_queue_status
Create Date: 2026-11-26 11:30:00

A capture decided into the review queue used to add itself to its review_queue_counts row: one row for
every customer, so on PostgreSQL concurrent captures queued on its lock. It now appends its move here,
and the maintenance loop folds the moves into the counts (docs/performance.md).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_queue_changes'
down_revision = '0004_queue_status'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_queue_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    # Unfolded moves go into the counts first, so the counts stay exact without the table.
    op.execute("INSERT INTO review_queue_counts (status, decided_by, label, transactions) "
               "SELECT status, decided_by, label, sum(delta) FROM review_queue_changes "
               "GROUP BY status, decided_by, label ON CONFLICT (status, decided_by, label) "
               "DO UPDATE SET transactions = review_queue_counts.transactions + excluded.transactions")
    op.drop_table('review_queue_changes')
