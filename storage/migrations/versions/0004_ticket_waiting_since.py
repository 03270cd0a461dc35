"""Inactivity closure: since when a ticket waits on its customer, and when
the reminder went

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:05:00.000000
"""

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_since', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_tickets_waiting_since', ['waiting_since'], unique=False,
                              sqlite_where=sa.text('waiting_since IS NOT NULL'),
                              postgresql_where=sa.text('waiting_since IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_waiting_since', sqlite_where=sa.text('waiting_since IS NOT NULL'),
                            postgresql_where=sa.text('waiting_since IS NOT NULL'))
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('waiting_since')
