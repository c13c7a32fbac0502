"""review queue index per status

Revision ID: 0004_queue_status
Revises: 0003_contributions
Create Date: 2026-11-26 08:45:00

With only the (timestamp, id) queue index, a status filter made SQLite and PostgreSQL intersect the
status index with the queue flag and sort every BLOCKED row; this one is already in the queue's order.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_queue_status'
down_revision = '0003_contributions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_review_queue_status', ['status', 'timestamp', 'id'], unique=False,
                              sqlite_where=sa.text('queued_for_review = 1'),
                              postgresql_where=sa.text('queued_for_review'))


def downgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_review_queue_status')
