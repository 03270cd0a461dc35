"""`mailgate tickets list|show|set`."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from mailgate.cli import Context, cli, echo_json, echo_rows, iso, pass_context
from mailgate.directory import PRIORITIES, agent_names
from mailgate.domain import STATUSES
from mailgate.errors import MailgateError, NotFound
from mailgate.notify import events as notify_events
from scheduler import clock as response_clock
from storage import events, tickets as store
from storage.db import reading, transaction


@cli.group("tickets")
def tickets_group() -> None:
    """List, show and change tickets."""


@tickets_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only tickets with this status.")
@click.option("--queue", help="Only tickets of this queue.")
@click.option("--priority", type=click.Choice(PRIORITIES), help="Only tickets of this priority.")
@click.option("--assignee", help="Only tickets assigned to this agent (address).")
@click.option("--limit", default=100, show_default=True, help="Show at most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket.")
@pass_context
def tickets_list(ctx: Context, status, queue, priority, assignee, limit, as_json) -> None:
    with reading(ctx.existing_engine()) as session:
        found = store.list_tickets(session, status=status, queue=queue, priority=priority,
                                   assignee=assignee.lower() if assignee else None, limit=limit)
        rows = [ticket_json(t) for t in found]
    echo_rows(rows, as_json, empty="no tickets",
              header=f"{'#':>6}  {'status':8} {'priority':8} {'queue':12} {'requester':30} subject",
              line=lambda row: f"{row['number']:>6}  {row['status']:8} {row['priority']:8} "
                               f"{row['queue'][:12]:12} {(row['requester'] or '')[:30]:30} {row['subject'][:60]}")


@tickets_group.command("show")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="The ticket and its messages as JSON.")
@pass_context
def tickets_show(ctx: Context, number: int, as_json: bool) -> None:
    with reading(ctx.existing_engine()) as session:
        ticket = store.get_ticket(session, number)
        if ticket is None:
            raise NotFound(f"no ticket #{number}")
        data = ticket_json(ticket)
        data["messages"] = [message_json(m) for m in store.ticket_messages(session, number)]
        data["participants"] = [{"address": address, "role": role}
                                for address, role in store.participants_of(session, number)]
        data["events"] = [event_json(e) for e in events.for_ticket(session, number)]
    if as_json:
        echo_json(data)
        return
    click.echo(f"Ticket #{data['number']}  [{data['status']}]  priority {data['priority']}  "
               f"queue {data['queue']}")
    click.echo(f"Subject:   {data['subject']}")
    requester = data["requester"] or "?"
    click.echo(f"Requester: {data['requester_name']} <{requester}>" if data["requester_name"] else f"Requester: {requester}")
    click.echo(f"Created:   {data['created_at']}   Updated: {data['updated_at']}")
    if data["participants"]:
        click.echo("Also:      " + ", ".join(f"{p['address']} ({p['role']})" for p in data["participants"]))
    if data["flags"]:
        click.echo("Flags:     " + ", ".join(data["flags"]))
    if data["linked_ticket"]:
        click.echo(f"Follows:   #{data['linked_ticket']}")
    if data["sla"]:
        sla = data["sla"]
        due = data["first_response_due"] or data["next_response_due"]
        state = f"due {due}" if sla["running"] else f"paused, {_hours(sla['used_seconds'])} used"
        click.echo(f"Response:  {sla['target']} answer {state}" + (f" ({sla['notified']} sent)" if sla["notified"] else ""))
    for message in data["messages"]:
        click.echo("")
        click.echo(f"--- {message['direction']} {message['visibility']} {message['date'] or ''} "
                   f"from {message['from']}  {message['message_id'] or ''}")
        click.echo(f"    rules: {', '.join(message['rule_hits'])}")
        click.echo(message["visible_text"] or message["text"])
        for attachment in message["attachments"]:
            click.echo(f"    [attachment] {attachment['filename']} ({attachment['content_type']}, "
                       f"{attachment['size']} bytes)")
    if data["events"]:
        click.echo("")
        click.echo("Events:")
    for event in data["events"]:
        if event["kind"] == "sla":
            step = event["data"]
            due = f", due {step['due']}" if step.get("due") else ""
            late = " (late)" if step.get("late") else ""
            what = {"warning": "warned", "breach": "breached"}.get(step["step"], step["step"])
            click.echo(f"  {event['created_at']}  sla: {step['target']} answer {what}{late}, "
                       f"{_hours(step['used'])} used{due}")
            continue
        if event["kind"] == "changed":
            change = event["data"]
            click.echo(f"  {event['created_at']}  {change['field']}: {change['from']} -> {change['to']} "
                       f"by {change['by']}")
            continue
        to = event["recipient"] or event["audience"]
        reason = f" ({event['data']['reason']})" if event["data"].get("reason") else ""
        click.echo(f"  {event['created_at']}  {event['kind']} to {to}{reason}  [{event['status']}]")


@tickets_group.command("set")
@click.argument("number", type=int)
@click.option("--status", type=click.Choice(STATUSES), help="New status.")
@click.option("--priority", type=click.Choice(PRIORITIES), help="New priority.")
@click.option("--queue", help="Move to this queue.")
@click.option("--assign", "assignee", metavar="AGENT", help="Assign to this agent (name or address); '' unassigns.")
@click.option("--quiet", is_flag=True, help="Do not tell the requester (solved, closed).")
@pass_context
def tickets_set(ctx: Context, number: int, status, priority, queue, assignee, quiet: bool) -> None:
    """Change a ticket by hand; every change goes into its history. Setting
    solved or closed tells the requester (ticket_solved, ticket_closed)
    unless --quiet."""
    values = {k: v for k, v in (("status", status), ("priority", priority), ("queue", queue)) if v}
    if assignee is not None:
        values["assignee"] = _agent(ctx, assignee) if assignee else None
    if not values:
        raise MailgateError("nothing to change: give --status, --priority, --queue or --assign")
    if queue and ctx.config.queue(queue) is None:
        raise MailgateError(f"no queue named {queue!r} in the config")
    ingestor = ctx.ingestor()
    now = datetime.now(timezone.utc)
    with transaction(ctx.existing_engine()) as session:
        ticket = store.get_ticket(session, number)
        if ticket is None:
            raise NotFound(f"no ticket #{number}")
        old, requester = ticket.status, ticket.requester
        store.change_ticket(session, number, values, "admin", now)
        response_clock.update(session, ctx.config, number, now)
        notices = () if quiet or not status else notify_events.status_changed(
            old, status, requester.address if requester else None, number,
            requester.id if requester else None)
        for event in notices:
            ingestor.notifier.record(session, event, None, now)
    told = f"; {', '.join(e.kind for e in notices)} to {notices[0].recipient}" if notices else ""
    click.echo(f"#{number}: " + ", ".join(f"{k} {v or '(none)'}" for k, v in values.items()) + told)


def _agent(ctx: Context, name: str) -> str:
    address = agent_names(ctx.config.agents).get(name.strip().lower())
    if address is None:
        raise MailgateError(f"no agent {name!r} in the config (see `mailgate agents list`)")
    return address


def _hours(seconds: float) -> str:
    """Business time used, as H:MM."""
    minutes = int(seconds) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def ticket_json(ticket) -> dict:
    requester = ticket.requester
    return {
        "number": ticket.id, "subject": ticket.subject, "status": ticket.status,
        "priority": ticket.priority, "queue": ticket.queue, "category": ticket.category,
        "subcategory": ticket.subcategory, "assignee": ticket.assignee,
        "requester": requester.address if requester else None,
        "requester_name": requester.name if requester else None,
        "language": ticket.language, "tags": ticket.tags, "flags": ticket.flags,
        "created_at": iso(ticket.created_at), "updated_at": iso(ticket.updated_at),
        "closed_at": iso(ticket.closed_at), "linked_ticket": ticket.linked_ticket_id,
        "first_response_due": iso(ticket.first_response_due), "next_response_due": iso(ticket.next_response_due),
        "sla": None if ticket.sla_target is None else {
            "target": ticket.sla_target, "running": ticket.sla_since is not None,
            "used_seconds": round(ticket.sla_used or 0), "notified": ticket.sla_notified},
    }


def message_json(message) -> dict:
    return {
        "id": message.id, "direction": message.direction, "visibility": message.visibility,
        "from": message.from_address, "from_name": message.from_name,
        "to": message.to_addrs, "cc": message.cc_addrs, "subject": message.subject,
        "date": iso(message.date), "received_at": iso(message.received_at),
        "message_id": message.message_id, "action": message.action,
        "matched_by": message.matched_by, "rule_hits": message.rule_hits,
        "visible_text": message.visible_text, "text": message.text,
        "html": message.html, "source": message.source, "raw_sha256": message.raw_sha256,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "sha256": a.sha256, "inline": a.inline, "stored": a.stored}
                        for a in message.attachments],
    }


def event_json(event) -> dict:
    return {"id": event.id, "kind": event.kind, "audience": event.audience,
            "recipient": event.recipient, "automatic": event.automatic, "data": event.data,
            "status": event.status, "created_at": iso(event.created_at)}
