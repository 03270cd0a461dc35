"""`mailgate scheduler run-once` and `mailgate sla report`."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from mailgate.cli import Context, cli, echo_json, echo_rows, iso, pass_context
from mailgate.errors import MailgateError
from scheduler.clock import clock_of, lengths
from scheduler.jobs import run_sweeps
from scheduler.sla import BREACH, WARNING, business_used, queue_calendar
from storage import tickets as store
from storage.db import reading


@cli.group("scheduler")
def scheduler_group() -> None:
    """The scheduled sweeps that `mailgate serve` runs by itself."""


@scheduler_group.command("run-once")
@click.option("--now", "at", metavar="ISO8601", help="Run as if it were this instant (default: now).")
@click.option("--dry-run", is_flag=True, help="Say what would happen; change and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket acted on.")
@pass_context
def run_once(ctx: Context, at: str | None, dry_run: bool, as_json: bool) -> None:
    """Run every sweep once: response-time warnings and breaches, inactivity
    reminders and closures."""
    now = _instant(at) if at else datetime.now(timezone.utc)
    done = run_sweeps(ctx.config, ctx.existing_engine(), ctx.ingestor().notifier, now, dry_run)
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


@cli.group("sla")
def sla_group() -> None:
    """Response targets (SPEC §7.2)."""


@sla_group.command("report")
@click.option("--queue", help="Only tickets of this queue.")
@click.option("--now", "at", metavar="ISO8601", help="Judge as if it were this instant (default: now).")
@click.option("--limit", default=1000, show_default=True, help="Show at most this many, earliest due first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket.")
@pass_context
def sla_report(ctx: Context, queue: str | None, at: str | None, limit: int, as_json: bool) -> None:
    """Tickets awaiting an answer with the clock running: when it is due,
    how much of the time is used, and whether the assignee was warned or the
    target breached."""
    now = _instant(at) if at else datetime.now(timezone.utc)
    with reading(ctx.existing_engine()) as session:
        rows = [_report_row(ctx.config, row, now) for row in store.running_clocks(session, queue, limit)]
    echo_rows(rows, as_json, empty="no answer is awaited",
              header=f"{'#':>6}  {'state':9} {'due':25} {'used':>5} {'answer':6} {'priority':8} {'queue':12} assignee",
              line=lambda r: f"{r['number']:>6}  {r['state']:9} {r['due']:25} {r['percent']:>4}% {r['target']:6} "
                             f"{r['priority']:8} {r['queue'][:12]:12} {r['assignee'] or '-'}")


def _report_row(config, row, now: datetime) -> dict:
    calendar = queue_calendar(config, row.queue)
    length = lengths(config, row.queue, row.priority, calendar)[row.sla_target]
    used = business_used(clock_of(row), calendar, now)
    state = {BREACH: "breached", WARNING: "warned"}.get(row.sla_notified) or (
        "overdue" if now >= row.due else "due")
    return {"number": row.id, "subject": row.subject, "status": row.status, "priority": row.priority,
            "queue": row.queue, "assignee": row.assignee, "target": row.sla_target, "due": iso(row.due),
            "state": state, "percent": int(100 * used / length.total_seconds()), "used_seconds": round(used)}
