"""`mailgate init`, `serve`, `config check` and `db upgrade`."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import click
import sqlalchemy as sa

from mailgate.cli import Context, cli, echo_rows, pass_context
from mailgate.config import DEFAULT_CONFIG_NAME, load_config
from mailgate.errors import ConfigError, MailgateError
from mailgate.sample_config import render_sample


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--domain", default="example.com", show_default=True,
              help="Mail domain of the helpdesk; the sample queue is support@DOMAIN.")
def init(directory: Path, domain: str) -> None:
    """Write DIRECTORY/mailgate.toml (every key documented) and the data directory."""
    if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}", domain.lower()):
        raise MailgateError(f"--domain: not a domain name: {domain!r}")
    path = directory / DEFAULT_CONFIG_NAME
    if path.exists():
        raise MailgateError(f"{path} already exists; not overwritten")
    directory.mkdir(parents=True, exist_ok=True)
    # The file holds the token secret: readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render_sample(domain.lower(), secrets.token_urlsafe(48)))
    config = load_config(path, environ={})
    config.data_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"wrote {path}")
    click.echo(f"data directory {config.data_dir}")
    click.echo(f"support address: {config.queues[0].addresses[0]}")


@cli.command()
@pass_context
def serve(ctx: Context) -> None:
    """Run the SMTP/LMTP listeners until SIGTERM (database upgraded first)."""
    from mailgate.serve import serve as run_server
    run_server(ctx.config)


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@pass_context
def config_check(ctx: Context) -> None:
    """Validate the config without starting anything."""
    config = ctx.config
    try:
        url = sa.make_url(config.database_url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"database.url: not a database URL: {config.database.url!r}") from None
    for key in ("tls_cert", "tls_key"):
        value = getattr(config.smtp, key)
        if value and not os.path.isfile(value):
            raise ConfigError(f"smtp.{key}: no such file: {value}")
    if bool(config.smtp.tls_cert) != bool(config.smtp.tls_key):
        raise ConfigError("smtp.tls_cert: needs smtp.tls_key too (both or neither)")
    from mailgate.app import templates_from
    from mailgate.notify.check import check_templates
    from mailgate.notify.sender import dkim_key
    dkim_key(config)
    problems = check_templates(templates_from(config))
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise ConfigError(f"notify.templates_dir: {len(problems)} template problem(s), listed above")
    click.echo(f"config OK: {ctx.config_path}")
    click.echo(f"  data directory: {config.data_dir}")
    click.echo(f"  database: {url.render_as_string(hide_password=True)}")
    click.echo(f"  smtp: {config.smtp.listen or 'off'}   lmtp: {config.lmtp.listen or 'off'}   "
               f"relay: {config.outbound.relay}")
    for queue in config.queues:
        click.echo(f"  queue {queue.name}: {', '.join(queue.addresses)}")


@cli.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@pass_context
def db_upgrade(ctx: Context) -> None:
    """Apply pending migrations (also done at every `serve` start)."""
    from alembic.runtime.migration import MigrationContext
    from storage.db import upgrade
    upgrade(ctx.engine)
    with ctx.engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    click.echo(f"database schema at revision {revision}")


@cli.group("agents")
def agents_group() -> None:
    """The agents of the config."""


@agents_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per agent.")
@pass_context
def agents_list(ctx: Context, as_json: bool) -> None:
    """Agents, their queues and role (from the config; edit it and restart to change them)."""
    all_queues = [queue.name for queue in ctx.config.queues]
    rows = [{"name": a.name, "address": a.address, "queues": list(a.queues) or all_queues, "role": a.role}
            for a in ctx.config.agents]
    echo_rows(rows, as_json, empty="no agents in the config ([[agents]] tables)",
              header=f"{'address':32} {'name':24} {'role':10} queues",
              line=lambda r: f"{r['address']:32} {r['name'][:24]:24} {r['role']:10} {', '.join(r['queues'])}")
