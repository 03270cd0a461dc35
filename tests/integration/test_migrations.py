"""Migrations bring a fresh SQLite and a fresh PostgreSQL to exactly the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alembic.script import ScriptDirectory

from storage.db import HEAD_REVISION, alembic_config, make_engine, schema_revision, upgrade
from storage.models import Base


def test_upgrade_to_head_matches_the_models_and_is_idempotent(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() is not None
    engine.dispose()


def test_head_revision_constant_names_the_newest_migration():
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_a_new_database_has_no_revision_until_upgraded(sqlite_url):
    engine = make_engine(sqlite_url)
    assert schema_revision(engine) is None
    upgrade(engine)
    assert schema_revision(engine) == HEAD_REVISION
    engine.dispose()
