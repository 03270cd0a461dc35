"""The `mailgate` command: builds what a command needs, calls one service,
and turns our errors into one clear line and an exit status."""

from __future__ import annotations

import json
import logging
import os
import sys
from functools import cached_property

import click
import sqlalchemy as sa

from mailgate.config import DEFAULT_CONFIG_NAME, Config, load_config
from mailgate.errors import ConfigError, MailgateError, StorageUnavailable

EXIT_CONFIG = 2
EXIT_TEMPFAIL = 75


class Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class MailgateGroup(click.Group):
    """Every MailgateError becomes one line on stderr, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise Failure(f"config: {exc}", EXIT_CONFIG) from None
        except StorageUnavailable as exc:
            raise Failure(str(exc), EXIT_TEMPFAIL) from None
        except MailgateError as exc:
            raise Failure(str(exc)) from None


class Context:
    """What commands share: the config (read once, on first use) and the engine."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path or os.environ.get("MAILGATE_CONFIG") or DEFAULT_CONFIG_NAME

    @cached_property
    def config(self) -> Config:
        config = load_config(self.config_path)
        setup_logging(config.log.level)
        return config

    @cached_property
    def engine(self) -> sa.Engine:
        from storage.db import make_engine
        return make_engine(self.config.database_url)

    def existing_engine(self) -> sa.Engine:
        """The engine, for commands that only read: they never create a database."""
        from storage.db import HEAD_REVISION, schema_revision, sqlite_path
        path = sqlite_path(self.engine)
        if path is not None and not path.exists():
            raise MailgateError(f"no database at {path} yet: run `mailgate db upgrade` or `mailgate serve`")
        revision = schema_revision(self.engine)
        if revision is not None and revision != HEAD_REVISION:
            raise MailgateError(f"the database schema is at {revision}, this mailgate needs "
                                f"{HEAD_REVISION}: run `mailgate db upgrade`")
        return self.engine

    def ingestor(self):
        from mailgate.app import Ingestor
        return Ingestor(self.config, self.engine)


pass_context = click.make_pass_decorator(Context)


@click.group(cls=MailgateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", metavar="FILE",
              help=f"Config file (default: $MAILGATE_CONFIG, else ./{DEFAULT_CONFIG_NAME}).")
@click.version_option(package_name="mailgate")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """mailgate: an email-first helpdesk. Mail in, tickets out."""
    ctx.obj = Context(config_path)


def setup_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
    # aiosmtpd logs every SMTP command at INFO; only show that when debugging.
    logging.getLogger("mail.log").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # mail-parser warns about every MIME subtype it does not render ("mixed", "report").
    logging.getLogger("mailparser").setLevel(logging.DEBUG if level == "debug" else logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def echo_json(value) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, default=str))


def echo_rows(rows: list[dict], as_json: bool, *, empty: str, header: str, line) -> None:
    """A listing: one JSON object per row, or a table (`line` formats a row)."""
    if as_json:
        for row in rows:
            echo_json(row)
    elif not rows:
        click.echo(empty)
    else:
        click.echo(header)
        for row in rows:
            click.echo(line(row))


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def main() -> None:
    cli(prog_name="mailgate")


# Commands live in their own modules and attach themselves to `cli`.
from mailgate.cli import admin, imap, mail, notify, quarantine, schedule, tickets  # noqa: E402,F401
