"""`mailgate quarantine list|show|retry|drop`."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from mailgate.cli import Context, cli, echo_json, echo_rows, iso, pass_context
from mailgate.errors import NotFound
from storage import quarantine as store
from storage.db import reading, transaction


@cli.group("quarantine")
def quarantine_group() -> None:
    """Messages held back: could not be processed, rejected, or unmatched bounces."""


@quarantine_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also entries released or dropped.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
@pass_context
def quarantine_list(ctx: Context, show_all: bool, as_json: bool) -> None:
    with reading(ctx.existing_engine()) as session:
        rows = [entry_json(e) for e in store.entries(session, status=None if show_all else store.HELD)]
    echo_rows(rows, as_json, empty="quarantine is empty",
              header=f"{'id':>5}  {'status':8} {'action':11} {'reason':32} {'from':28} subject",
              line=lambda row: f"{row['id']:>5}  {row['status']:8} {row['action']:11} "
                               f"{row['reason'][:32]:32} {(row['from'] or row['mail_from'] or '')[:28]:28} "
                               f"{row['subject'][:50]}")


@quarantine_group.command("show")
@click.argument("entry_id", type=int)
@click.option("--raw", is_flag=True, help="Print the raw message instead.")
@pass_context
def quarantine_show(ctx: Context, entry_id: int, raw: bool) -> None:
    with reading(ctx.existing_engine()) as session:
        entry = store.get(session, entry_id)
        if entry is None:
            raise NotFound(f"no quarantine entry {entry_id}")
        data = entry_json(entry)
    if raw:
        sys.stdout.buffer.write(ctx.ingestor().raw_store.get(data["raw_sha256"]))
        return
    for key, value in data.items():
        click.echo(f"{key + ':':14}{value}")


@quarantine_group.command("retry")
@click.argument("entry_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The outcome as JSON.")
@pass_context
def quarantine_retry(ctx: Context, entry_id: int, as_json: bool) -> None:
    """Run a held message through ingest again (e.g. after an upgrade)."""
    ctx.existing_engine()
    outcome = ctx.ingestor().retry_quarantined(entry_id)
    if as_json:
        echo_json(outcome.as_json())
    else:
        ticket = f" #{outcome.ticket}" if outcome.ticket else ""
        reason = f" ({outcome.reason})" if outcome.reason else ""
        click.echo(f"entry {entry_id}: {outcome.action}{ticket}{reason}")
    if outcome.temporary_failure:
        sys.exit(75)


@quarantine_group.command("drop")
@click.argument("entry_id", type=int)
@pass_context
def quarantine_drop(ctx: Context, entry_id: int) -> None:
    """Give up on a held message (its raw mail stays in the store)."""
    with transaction(ctx.existing_engine()) as session:
        entry = store.get(session, entry_id)
        if entry is None or entry.status != store.HELD:
            raise NotFound(f"no held quarantine entry {entry_id}")
        store.drop(session, entry_id, datetime.now(timezone.utc))
    click.echo(f"entry {entry_id}: dropped")


def entry_json(entry) -> dict:
    return {
        "id": entry.id, "status": entry.status, "action": entry.action, "reason": entry.reason,
        "detail": entry.detail, "source": entry.source, "mail_from": entry.mail_from,
        "rcpt_tos": entry.rcpt_tos, "from": entry.from_address, "subject": entry.subject,
        "message_id": entry.message_id, "ticket": entry.ticket_id, "size": entry.size,
        "raw_sha256": entry.raw_sha256, "attempts": entry.attempts,
        "created_at": iso(entry.created_at), "updated_at": iso(entry.updated_at),
    }
