"""Tickets, messages, contacts and attachments: reads and writes that take a
session and never commit (storage.db.transaction() does)."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
import sqlalchemy.orm as so

from mailgate.domain import AttachmentPart, TicketRef
from storage.models import Attachment, Contact, Message, Ticket

_tickets = Ticket.__table__
_messages = Message.__table__
_contacts = Contact.__table__
_attachments = Attachment.__table__

# The ingest path runs these for every message: built once, compiled once,
# executed with parameters (building a statement per call costs 3-4x more).
_FIND_DUPLICATE = sa.select(_messages.c.id, _messages.c.ticket_id).where(
    _messages.c.dedup_key == sa.bindparam("key"))
_TICKETS_BY_MESSAGE_ID = (
    sa.select(_messages.c.message_id, _tickets.c.id, _tickets.c.status, _tickets.c.queue)
    .join(_tickets, _tickets.c.id == _messages.c.ticket_id)
    .where(_messages.c.message_id.in_(sa.bindparam("ids", expanding=True))))
_TICKET_REF = sa.select(_tickets.c.id, _tickets.c.status, _tickets.c.queue).where(
    _tickets.c.id == sa.bindparam("number"))
_FIND_CONTACT = sa.select(_contacts.c.id, _contacts.c.name).where(_contacts.c.address == sa.bindparam("address"))
_NAME_CONTACT = _contacts.update().where(_contacts.c.id == sa.bindparam("contact")).values(
    name=sa.bindparam("name"))
_ADD_CONTACT = _contacts.insert().returning(_contacts.c.id)
_ADD_TICKET = _tickets.insert().returning(_tickets.c.id)
_ADD_MESSAGE = _messages.insert().returning(_messages.c.id)
_ADD_ATTACHMENT = _attachments.insert()
_TOUCH = _tickets.update().where(_tickets.c.id == sa.bindparam("number")).values(
    updated_at=sa.bindparam("updated_at"))
_SET_STATUS = _TOUCH.values(status=sa.bindparam("status"), closed_at=sa.bindparam("closed_at"))


def find_duplicate(session: so.Session, dedup_key: str) -> tuple[int, int | None] | None:
    """(message row id, ticket number) of the first copy of a message, if any."""
    row = session.connection().execute(_FIND_DUPLICATE, {"key": dedup_key}).first()
    return (row.id, row.ticket_id) if row else None


def tickets_by_message_ids(session: so.Session, message_ids: Sequence[str]) -> list[TicketRef]:
    """Tickets holding any of these Message-IDs, in the order of `message_ids`."""
    if not message_ids:
        return []
    rows = session.connection().execute(_TICKETS_BY_MESSAGE_ID, {"ids": list(message_ids)}).all()
    by_id = {row.message_id: TicketRef(row.id, row.status, row.queue) for row in rows}
    refs: list[TicketRef] = []
    for message_id in message_ids:
        ref = by_id.get(message_id)
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def ticket_ref(session: so.Session, number: int) -> TicketRef | None:
    row = session.connection().execute(_TICKET_REF, {"number": number}).first()
    return TicketRef(row.id, row.status, row.queue) if row else None


def contact_id(session: so.Session, address: str, name: str, now: datetime) -> int:
    """The contact for an address, created on first sight."""
    connection = session.connection()
    found = connection.execute(_FIND_CONTACT, {"address": address}).first()
    if found:
        if name and not found.name:
            connection.execute(_NAME_CONTACT, {"contact": found.id, "name": name[:200]})
        return found.id
    return connection.execute(
        _ADD_CONTACT, {"address": address, "name": name[:200], "created_at": now}).scalar_one()


def create_ticket(session: so.Session, *, subject: str, queue: str, priority: str,
                  requester_id: int | None, flags: Iterable[str], now: datetime) -> int:
    return session.connection().execute(_ADD_TICKET, {
        "subject": subject, "status": "new", "priority": priority, "queue": queue,
        "requester_id": requester_id, "tags": [], "flags": list(flags),
        "created_at": now, "updated_at": now,
    }).scalar_one()


def touch_ticket(session: so.Session, number: int, now: datetime, status: str | None = None) -> None:
    if status:
        session.connection().execute(_SET_STATUS, {"number": number, "updated_at": now, "status": status,
                                                   "closed_at": now if status == "closed" else None})
    else:
        session.connection().execute(_TOUCH, {"number": number, "updated_at": now})


def add_message(session: so.Session, **values) -> int:
    return session.connection().execute(_ADD_MESSAGE, values).scalar_one()


def add_attachments(session: so.Session, message_row: int, parts: Iterable[AttachmentPart]) -> None:
    rows = [dict(message_id=message_row, filename=p.filename, content_type=p.content_type[:255],
                 size=p.size, sha256=p.sha256, content_id=(p.content_id or None) and p.content_id[:500],
                 inline=p.inline, stored=p.stored) for p in parts]
    if rows:
        session.connection().execute(_ADD_ATTACHMENT, rows)


def list_tickets(session: so.Session, *, status: str | None = None, queue: str | None = None,
                 limit: int = 100) -> list[Ticket]:
    query = sa.select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    if queue:
        query = query.where(Ticket.queue == queue)
    return list(session.scalars(query))


def get_ticket(session: so.Session, number: int) -> Ticket | None:
    return session.get(Ticket, number)


def ticket_messages(session: so.Session, number: int) -> list[Message]:
    """The ticket's thread, oldest first (repeats recorded as duplicates are not part of it)."""
    return list(session.scalars(
        sa.select(Message).where(Message.ticket_id == number)
        .options(so.selectinload(Message.attachments)).order_by(Message.id)
    ))
