"""Engines and sessions, and the one owner of commits: transaction().

Storage functions elsewhere take a session and never commit; whoever calls
transaction() decides what commits together (a ticket change and its outbox
rows, a whole batch of ingested mail).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
import sqlalchemy.orm as so

from mailgate.errors import StorageUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration; a test checks it against migrations/versions/.
HEAD_REVISION = "0006"
_READONLY = "mailgate_readonly"


def make_engine(url: str) -> sa.Engine:
    """An engine for SQLite (WAL, synchronous=FULL) or PostgreSQL (psycopg 3)."""
    url_obj = sa.make_url(url)
    if url_obj.get_backend_name() == "sqlite":
        engine = sa.create_engine(url_obj, connect_args={"timeout": 15})
        _sqlite_events(engine)
        return engine
    return sa.create_engine(url_obj, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, open transactions, so that writers can
        # take the lock up front with BEGIN IMMEDIATE (see _on_begin).
        dbapi_connection.isolation_level = None
        # FULL: a commit survives a power cut, not just a crash (NORMAL in WAL
        # mode does not fsync on commit). The page cache holds the hot indexes.
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                       "busy_timeout=15000", "cache_size=-32768"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A deferred transaction that reads and then writes fails at once with
        # SQLITE_BUSY when another process wrote in between; IMMEDIATE waits.
        readonly = connection.get_execution_options().get(_READONLY)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: sa.Engine) -> Iterator[so.Session]:
    """A session whose work commits at the end of the block, or not at all."""
    session = so.Session(engine, expire_on_commit=False)
    try:
        with session.begin():
            yield session
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
        raise StorageUnavailable(f"database unavailable: {_short(exc)}") from exc
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailable(f"database connection lost: {_short(exc)}") from exc
        raise
    finally:
        session.close()


@contextmanager
def reading(engine: sa.Engine) -> Iterator[so.Session]:
    """A session for reads only (on SQLite it takes no write lock)."""
    session = so.Session(engine.execution_options(**{_READONLY: True}))
    try:
        yield session
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
        raise StorageUnavailable(f"database unavailable: {_short(exc)}") from exc
    finally:
        session.close()


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration. Safe when several processes
    start together: the migration takes a lock first (see migrations/env.py)."""
    if schema_revision(engine) == HEAD_REVISION:
        return                       # the usual case; loading Alembic costs a tenth of a second
    from alembic import command

    path = sqlite_path(engine)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise StorageUnavailable(f"cannot upgrade the database: {_short(exc)}") from exc


def schema_revision(engine: sa.Engine) -> str | None:
    """The migration the database is at; None for a new or unreachable one."""
    path = sqlite_path(engine)
    if path is not None and not path.exists():
        return None
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa_exc.DBAPIError:
        return None


def sqlite_path(engine: sa.Engine) -> Path | None:
    """The file of an SQLite database, None for PostgreSQL or in-memory SQLite."""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def alembic_config(connection: sa.Connection | None = None, url: str | None = None):
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    config.attributes["connection"] = connection
    return config


def is_conflict(exc: BaseException) -> bool:
    """A unique-key race with another writer: retrying the message will see its row."""
    return isinstance(exc, sa_exc.IntegrityError) or isinstance(exc.__cause__, sa_exc.IntegrityError)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
