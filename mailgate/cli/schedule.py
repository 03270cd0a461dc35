"""`mailgate scheduler run-once`."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from mailgate.cli import Context, cli, echo_json, pass_context
from mailgate.errors import MailgateError
from scheduler.jobs import sweep_inactivity


@cli.group("scheduler")
def scheduler_group() -> None:
    """The scheduled sweeps that `mailgate serve` runs by itself."""


@scheduler_group.command("run-once")
@click.option("--now", "at", metavar="ISO8601", help="Run as if it were this instant (default: now).")
@click.option("--dry-run", is_flag=True, help="Say what would happen; change and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket acted on.")
@pass_context
def run_once(ctx: Context, at: str | None, dry_run: bool, as_json: bool) -> None:
    """Run every sweep once: inactivity reminders and closures."""
    now = _instant(at) if at else datetime.now(timezone.utc)
    done = sweep_inactivity(ctx.config, ctx.existing_engine(), ctx.ingestor().notifier, now, dry_run)
    for item in done:
        if as_json:
            echo_json({"ticket": item.ticket, "action": item.action, "status": item.status, "dry_run": dry_run})
        else:
            click.echo(f"#{item.ticket} ({item.status}): {item.action}{' (dry run)' if dry_run else ''}")
    if not done and not as_json:
        click.echo("nothing due")


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise MailgateError(f"--now: expected an ISO 8601 instant such as 2026-11-23T10:00:00+01:00, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
