"""Response targets: each ticket's response clock and when the sweep looks
at it next

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 09:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sla_target', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('sla_since', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_used', sa.Float(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('sla_notified', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('sla_next_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_tickets_sla_next_at', ['sla_next_at'], unique=False,
                              sqlite_where=sa.text('sla_next_at IS NOT NULL'),
                              postgresql_where=sa.text('sla_next_at IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_sla_next_at', sqlite_where=sa.text('sla_next_at IS NOT NULL'),
                            postgresql_where=sa.text('sla_next_at IS NOT NULL'))
        for column in ('sla_next_at', 'sla_notified', 'sla_used', 'sla_since', 'sla_target'):
            batch_op.drop_column(column)
