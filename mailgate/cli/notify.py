"""`mailgate outbox list|show|retry`, `templates check|preview`, `contacts set`."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from mailgate.cli import Context, cli, echo_rows, iso, pass_context
from mailgate.directory import is_language, is_timezone
from mailgate.errors import MailgateError, NotFound
from mailgate.notify.check import check_templates
from mailgate.notify.kinds import KINDS, sample_context
from mailgate.notify.render import Templates
from mailgate.notify.sender import Renderer, with_tag
from storage import outbox as store
from storage import tickets
from storage.db import reading, transaction

STATUSES = (store.QUEUED, store.SENT, store.FAILED, store.SKIPPED)


@cli.group("outbox")
def outbox_group() -> None:
    """Notifications waiting for, or done with, delivery."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only entries with this status.")
@click.option("--ticket", type=int, help="Only entries of this ticket.")
@click.option("--limit", default=200, show_default=True, help="Show at most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
@pass_context
def outbox_list(ctx: Context, status, ticket, limit, as_json) -> None:
    with reading(ctx.existing_engine()) as session:
        rows = [entry_json(e) for e in store.listed(session, status=status, ticket=ticket, limit=limit)]
    echo_rows(rows, as_json, empty="outbox is empty",
              header=f"{'id':>6}  {'status':7} {'tries':>5} {'ticket':>6}  {'event':19} {'lang':4} {'to':30} subject",
              line=lambda r: f"{r['id']:>6}  {r['status']:7} {r['attempts']:>5} {r['ticket'] or '':>6}  "
                             f"{r['event']:19} {r['language'] or '':4} {r['to'][:30]:30} {r['subject'][:50]}")


@outbox_group.command("show")
@click.argument("entry_id", type=int)
@pass_context
def outbox_show(ctx: Context, entry_id: int) -> None:
    """The full mail (RFC 5322) as it goes, or went, to the relay."""
    with reading(ctx.existing_engine()) as session:
        entry = store.get(session, entry_id)
        if entry is None:
            raise NotFound(f"no outbox entry {entry_id}")
        raw = store.raw_of(session, entry_id)
    if raw is None:          # not rendered yet: show what the first attempt will send
        ingestor = ctx.ingestor()
        raw, _ = Renderer(ctx.config, ingestor.templates).render(entry, datetime.now(timezone.utc))
    sys.stdout.buffer.write(raw)


@outbox_group.command("retry")
@click.argument("entry_id", type=int)
@pass_context
def outbox_retry(ctx: Context, entry_id: int) -> None:
    """Send a failed or skipped entry again (rendered afresh, same Message-ID)."""
    with transaction(ctx.existing_engine()) as session:
        entry = store.get(session, entry_id)
        if entry is None:
            raise NotFound(f"no outbox entry {entry_id}")
        if entry.status == store.SENT:
            raise MailgateError(f"outbox entry {entry_id} was sent at {iso(entry.sent_at)}; nothing to retry")
        if not store.requeue(session, entry_id, datetime.now(timezone.utc)):
            raise MailgateError(f"outbox entry {entry_id} is still queued; the sender will try it")
    click.echo(f"outbox entry {entry_id} queued again")


def entry_json(entry) -> dict:
    return {"id": entry.id, "ticket": entry.ticket_id, "event": entry.event, "to": entry.to_addr,
            "subject": entry.subject, "language": entry.language, "status": entry.status,
            "attempts": entry.attempts, "message_id": entry.message_id, "reply_to": entry.reply_to,
            "last_error": entry.last_error, "created_at": iso(entry.created_at),
            "sent_at": iso(entry.sent_at), "next_attempt_at": iso(entry.next_attempt_at)}


@cli.group("templates")
def templates_group() -> None:
    """Check and preview the notification templates."""


def _templates(ctx: Context) -> Templates:
    return Templates(ctx.config.notify.default_language, ctx.config.notify.templates_dir or None)


@templates_group.command("check")
@pass_context
def templates_check(ctx: Context) -> None:
    """Render every event in every language with sample data; report each
    problem as file:line and exit 1 if there is any."""
    templates = _templates(ctx)
    problems = check_templates(templates)
    for problem in problems:
        click.echo(problem)
    languages = ", ".join(templates.languages())
    if problems:
        raise click.exceptions.Exit(1)
    click.echo(f"templates ok: {len(KINDS)} events in {languages}")


@templates_group.command("preview")
@click.argument("event", type=click.Choice(sorted(KINDS)))
@click.option("--lang", "language", default=None, help="Language (default: notify.default_language).")
@click.option("--html", is_flag=True, help="Print the HTML part instead of the text.")
@click.option("--zone", default=None, help="Time zone of the dates, e.g. Europe/Rome.")
@pass_context
def templates_preview(ctx: Context, event: str, language: str | None, html: bool, zone: str | None) -> None:
    """Print EVENT's subject and body rendered with sample data."""
    templates = _templates(ctx)
    language = templates.template_language(language or ctx.config.notify.default_language)
    context = sample_context(event, language)
    rendered = templates.render(event, language, context, zone or ctx.config.notify.timezone)
    number = context["ticket"]["number"] if context["ticket"] else None
    click.echo(f"Subject: {with_tag(ctx.config, rendered.subject, number)}")
    click.echo(f"Content-Language: {language}")
    click.echo("")
    click.echo(rendered.html if html else rendered.text, nl=False)


@cli.group("contacts")
def contacts_group() -> None:
    """Customers' settings."""


@contacts_group.command("set")
@click.argument("address")
@click.option("--language", help="Language of their mail, e.g. it or pt_BR ('' clears it).")
@click.option("--timezone", "zone", help="Their time zone, e.g. Europe/Rome ('' clears it).")
@pass_context
def contacts_set(ctx: Context, address: str, language: str | None, zone: str | None) -> None:
    """Set the language or time zone mail to ADDRESS uses."""
    values = {}
    if language is not None:
        if language and not is_language(language):
            raise MailgateError(f"not a language code such as 'it' or 'pt_BR': {language!r}")
        values["language"] = language or None
    if zone is not None:
        if zone and not is_timezone(zone):
            raise MailgateError(f"not a time zone name such as Europe/Rome: {zone!r}")
        values["timezone"] = zone or None
    if not values:
        raise MailgateError("nothing to change: give --language or --timezone")
    with transaction(ctx.existing_engine()) as session:
        tickets.set_contact_preferences(session, address.strip().lower(), datetime.now(timezone.utc), **values)
    click.echo(f"{address}: " + ", ".join(f"{k} {v or '(none)'}" for k, v in values.items()))
