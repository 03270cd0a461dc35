"""Alembic environment: migrations run on the connection mailgate hands in
(`mailgate db upgrade`, and at every start), or on sqlalchemy.url."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from storage.models import Base

# Any constant works; it names the lock two starting processes queue on.
_MIGRATION_LOCK = 0x6D61696C67617465 & 0x7FFFFFFFFFFFFFFF


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,       # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two processes starting together: the second waits here, then finds
            # the schema at head. (SQLite: BEGIN IMMEDIATE already serialises.)
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
