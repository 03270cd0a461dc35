"""Rendered notifications: the outbox keeps the template context and the
rendered mail; contacts get a language and time zone an admin may set

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:10:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('context', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=True))
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('timezone')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('raw')
        batch_op.drop_column('context')
