"""analyst console: review queue flag, released decisions, audit trail, queue counts, risk/label buckets

Revision ID: 0002_console
Revises: 0001
Create Date: 2026-11-26 08:00:00
"""
from decimal import Decimal

from alembic import op
import sqlalchemy as sa


revision = '0002_console'
down_revision = '0001'
branch_labels = None
depends_on = None

# REVIEW_THRESHOLD's default when this migration was written: rows decided before it get the flag they
# would have got then.
REVIEW_THRESHOLD = 0.23
RISK_BUCKETS = 1000
STATUSES = ("BLOCKED", "APPROVED")
DECIDED_BY = ("model", "fallback", "analyst")
LABELS = ("none", "fraud", "legitimate")


def _label(is_fraud):
    return "none" if is_fraud is None else ("fraud" if is_fraud else "legitimate")


def upgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_for_review', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('original_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('original_decided_by', sa.String(length=16), nullable=True))
    op.execute(sa.text(
        "UPDATE transactions SET queued_for_review = (status = 'BLOCKED' OR "
        "(status = 'APPROVED' AND risk_score IS NOT NULL AND risk_score >= :review))"
    ).bindparams(review=REVIEW_THRESHOLD))
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_terminal_timestamp', ['terminal_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_transactions_review_queue', ['timestamp', 'id'], unique=False,
                              sqlite_where=sa.text('queued_for_review = 1'),
                              postgresql_where=sa.text('queued_for_review'))

    with op.batch_alter_table('feedback_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('labelled_by', sa.String(length=150), nullable=True))

    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('transaction_id', sa.Uuid(), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=150), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id']),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_transaction', ['transaction_id', 'id'], unique=False)
    # Append-only in the database too, so no code path (or hand-written SQL) can rewrite the trail.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'audit_entries is append-only'; END $$")
        op.execute("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
                   "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()")
    else:
        for event in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER audit_entries_no_{event.lower()} BEFORE {event} ON audit_entries "
                       "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END")

    counts = op.create_table('review_queue_counts',
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('transactions', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('status', 'decided_by', 'label')
    )
    buckets = op.create_table('risk_label_buckets',
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('is_fraud', sa.Boolean(), nullable=False),
    sa.Column('transactions', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.PrimaryKeyConstraint('bucket', 'is_fraud')
    )

    bind = op.get_bind()
    cells = {(s, d, label): 0 for s in STATUSES for d in DECIDED_BY for label in LABELS}
    rows = bind.execute(sa.text(
        "SELECT status, decided_by, is_fraud, count(*) FROM transactions WHERE queued_for_review "
        "GROUP BY status, decided_by, is_fraud")).all()
    for status, decided_by, is_fraud, n in rows:
        key = (status, decided_by or "model", _label(None if is_fraud is None else bool(is_fraud)))
        if key in cells:
            cells[key] += n
    op.bulk_insert(counts, [{"status": s, "decided_by": d, "label": label, "transactions": n}
                            for (s, d, label), n in cells.items()])

    histogram: dict[tuple[int, bool], list] = {}
    for risk, is_fraud, amount in bind.execute(sa.text(
            "SELECT risk_score, is_fraud, amount FROM transactions "
            "WHERE is_fraud IS NOT NULL AND risk_score IS NOT NULL")):
        key = (min(int(risk * RISK_BUCKETS + 1e-9), RISK_BUCKETS - 1), bool(is_fraud))
        cell = histogram.setdefault(key, [0, Decimal(0)])
        cell[0] += 1
        cell[1] += Decimal(str(amount))
    # Every cell exists from the start, so keeping them is a plain UPDATE (no insert race between writers).
    op.bulk_insert(buckets, [{"bucket": b, "is_fraud": f, "transactions": histogram.get((b, f), (0, 0))[0],
                              "amount": histogram.get((b, f), (0, Decimal(0)))[1]}
                             for b in range(RISK_BUCKETS) for f in (False, True)])


def downgrade() -> None:
    op.drop_table('risk_label_buckets')
    op.drop_table('review_queue_counts')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_transaction')
    op.drop_table('audit_entries')
    with op.batch_alter_table('feedback_outbox', schema=None) as batch_op:
        batch_op.drop_column('labelled_by')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_review_queue')
        batch_op.drop_index('ix_transactions_terminal_timestamp')
        batch_op.drop_column('original_decided_by')
        batch_op.drop_column('original_status')
        batch_op.drop_column('queued_for_review')
