"""IMAP fetching: each folder's UIDVALIDITY and the UID up to which every
message is done

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:10:00.000000
"""

from alembic import op
import sqlalchemy as sa
import storage.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'imap_state',
        sa.Column('mailbox', sa.String(length=64), nullable=False),
        sa.Column('folder', sa.String(length=255), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
        sa.Column('last_uid', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('mailbox', 'folder', name=op.f('pk_imap_state')),
    )


def downgrade() -> None:
    op.drop_table('imap_state')
