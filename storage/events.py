"""Events: the notices decisions cause (SPEC §6.1), kept as the ticket's
history of what was sent to whom (the outbox holds the mails themselves),
and counted for the hourly limit of automatic mail to one address (SPEC
§4.4). Functions take a session and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from storage.models import Event

QUEUED, NO_RECIPIENT, NOT_QUEUED = "queued", "no_recipient", "not_queued"
HISTORY = "history"                  # a change of the ticket, kept for its history; sends nothing

_events = Event.__table__
_ADD = _events.insert()
_AUTOMATIC_SENT = (
    sa.select(_events.c.kind, sa.func.count())
    .where(_events.c.recipient == sa.bindparam("recipient"), _events.c.automatic.is_(True),
           _events.c.created_at >= sa.bindparam("since"))
    .group_by(_events.c.kind))


def add(session: so.Session, *, kind: str, audience: str, recipient: str | None, ticket: int | None,
        automatic: bool, data: dict[str, Any], now: datetime, status: str = QUEUED) -> None:
    session.connection().execute(_ADD, {
        "kind": kind, "audience": audience, "recipient": recipient, "ticket_id": ticket,
        "automatic": automatic, "data": data, "status": status, "created_at": now})


def automatic_sent(session: so.Session, recipient: str, since: datetime) -> dict[str, int]:
    """Automatic notices to `recipient` since `since`, by kind."""
    rows = session.connection().execute(_AUTOMATIC_SENT, {"recipient": recipient, "since": since})
    return {kind: count for kind, count in rows}


def for_ticket(session: so.Session, number: int) -> list[Event]:
    return list(session.scalars(sa.select(Event).where(Event.ticket_id == number).order_by(Event.id)))


def listed(session: so.Session, *, status: str | None = None, limit: int = 200) -> list[Event]:
    query = sa.select(Event).order_by(Event.id.desc()).limit(limit)
    if status:
        query = query.where(Event.status == status)
    return list(session.scalars(query))


def add_change(session: so.Session, ticket: int, field: str, old: Any, new: Any, by: str,
               now: datetime) -> None:
    """One line of a ticket's history: who changed what from what to what."""
    add(session, kind="changed", audience=HISTORY, recipient=None, ticket=ticket, automatic=False,
        data={"field": field, "from": old, "to": new, "by": by}, now=now, status=HISTORY)
