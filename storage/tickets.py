"""Tickets, messages, contacts and attachments: reads and writes that take a
session and never commit (storage.db.transaction() does)."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
import sqlalchemy.orm as so

from mailgate.domain import AttachmentPart, RecentTicket, TicketRef
from storage import events
from storage.models import Attachment, Contact, Message, Participant, Ticket

_tickets = Ticket.__table__
_messages = Message.__table__
_contacts = Contact.__table__
_attachments = Attachment.__table__
_participants = Participant.__table__

# The ingest path runs these for every message: built once, compiled once,
# executed with parameters (building a statement per call costs 3-4x more).
_FIND_DUPLICATE = sa.select(_messages.c.id, _messages.c.ticket_id).where(
    _messages.c.dedup_key == sa.bindparam("key"))
_TICKETS_BY_MESSAGE_ID = (
    sa.select(_messages.c.message_id, _messages.c.ticket_id)
    .where(_messages.c.message_id.in_(sa.bindparam("ids", expanding=True)),
           _messages.c.ticket_id.is_not(None)))
_TICKET_REF = (
    sa.select(_tickets.c.id, _tickets.c.status, _tickets.c.queue, _contacts.c.address,
              _contacts.c.id.label("contact"), _tickets.c.assignee)
    .outerjoin(_contacts, _contacts.c.id == _tickets.c.requester_id)
    .where(_tickets.c.id == sa.bindparam("number")))
_PARTICIPANTS = (
    sa.select(_contacts.c.address).join(_participants, _participants.c.contact_id == _contacts.c.id)
    .where(_participants.c.ticket_id == sa.bindparam("number")))
_ADD_PARTICIPANT = _participants.insert()
_first_message = _messages.alias("first_message")
_RECENT_TICKETS = (
    sa.select(_tickets.c.id, _tickets.c.status, _tickets.c.queue, _tickets.c.subject,
              _tickets.c.created_at, _messages.c.visible_text, _messages.c.text)
    .select_from(_tickets)
    .outerjoin(_messages, _messages.c.id == (
        sa.select(sa.func.min(_first_message.c.id)).where(_first_message.c.ticket_id == _tickets.c.id)
        .correlate(_tickets).scalar_subquery()))
    .where(_tickets.c.requester_id == sa.bindparam("requester"),
           _tickets.c.created_at >= sa.bindparam("since"))
    .order_by(_tickets.c.id.desc()).limit(sa.bindparam("limit")))
_SET_FLAGS = _tickets.update().where(_tickets.c.id == sa.bindparam("number")).values(
    flags=sa.bindparam("flags"))
_FIND_CONTACT = sa.select(_contacts.c.id, _contacts.c.name).where(_contacts.c.address == sa.bindparam("address"))
_NAME_CONTACT = _contacts.update().where(_contacts.c.id == sa.bindparam("contact")).values(
    name=sa.bindparam("name"))
_ADD_CONTACT = _contacts.insert().returning(_contacts.c.id)
_ADD_TICKET = _tickets.insert().returning(_tickets.c.id)
_ADD_MESSAGE = _messages.insert().returning(_messages.c.id)
_ADD_ATTACHMENT = _attachments.insert()
_TOUCH = _tickets.update().where(_tickets.c.id == sa.bindparam("number")).values(
    updated_at=sa.bindparam("updated_at"))
_SET_STATUS = _TOUCH.values(status=sa.bindparam("status"), closed_at=sa.bindparam("closed_at"),
                            waiting_since=sa.bindparam("waiting_since"), reminded_at=None)
WAITING = ("pending", "solved")      # statuses whose inactivity closes the ticket (SPEC §7.3)


def find_duplicate(session: so.Session, dedup_key: str) -> tuple[int, int | None] | None:
    """(message row id, ticket number) of the first copy of a message, if any."""
    row = session.connection().execute(_FIND_DUPLICATE, {"key": dedup_key}).first()
    return (row.id, row.ticket_id) if row else None


def tickets_by_message_ids(session: so.Session, message_ids: Sequence[str]) -> dict[str, int]:
    """Message-ID -> ticket number, for those of `message_ids` stored on a ticket."""
    if not message_ids:
        return {}
    rows = session.connection().execute(_TICKETS_BY_MESSAGE_ID, {"ids": list(message_ids)}).all()
    return {row.message_id: row.ticket_id for row in rows}


def ticket_ref(session: so.Session, number: int) -> TicketRef | None:
    """What matching and participation need to know of a ticket."""
    connection = session.connection()
    row = connection.execute(_TICKET_REF, {"number": number}).first()
    if row is None:
        return None
    others = connection.execute(_PARTICIPANTS, {"number": number}).scalars()
    return TicketRef(row.id, row.status, row.queue, row.address, frozenset(others), row.contact,
                     row.assignee)


def add_participants(session: so.Session, number: int, contacts: dict[int, str], now: datetime) -> None:
    """Record who besides the requester may continue a ticket (contact id ->
    role); those already taking part keep their role."""
    if not contacts:
        return
    connection = session.connection()
    present = set(connection.execute(sa.select(_participants.c.contact_id).where(
        _participants.c.ticket_id == number)).scalars())
    new = [{"ticket_id": number, "contact_id": contact, "role": role, "created_at": now}
           for contact, role in contacts.items() if contact not in present]
    if new:
        connection.execute(_ADD_PARTICIPANT, new)


def participants_of(session: so.Session, number: int) -> list[tuple[str, str]]:
    """(address, role) of those besides the requester who take part in a ticket."""
    rows = session.execute(
        sa.select(_contacts.c.address, _participants.c.role)
        .join(_participants, _participants.c.contact_id == _contacts.c.id)
        .where(_participants.c.ticket_id == number).order_by(_contacts.c.address))
    return [(row.address, row.role) for row in rows]


_FLAGS = sa.select(_tickets.c.flags).where(_tickets.c.id == sa.bindparam("number"))


def add_flags(session: so.Session, number: int, flags: Iterable[str]) -> None:
    connection = session.connection()
    present = connection.execute(_FLAGS, {"number": number}).scalar()
    if present is not None:
        merged = list(dict.fromkeys([*present, *flags]))
        if merged != present:
            connection.execute(_SET_FLAGS, {"number": number, "flags": merged})


def recent_tickets(session: so.Session, requester_id: int, since: datetime,
                   limit: int) -> list[RecentTicket]:
    """The requester's tickets opened since `since`, newest first, each with the
    visible text of its first message (for flood and same-topic checks)."""
    rows = session.connection().execute(
        _RECENT_TICKETS, {"requester": requester_id, "since": since, "limit": limit}).all()
    return [RecentTicket(TicketRef(row.id, row.status, row.queue), row.subject,
                         row.visible_text or row.text or "", row.created_at) for row in rows]


def find_contact(session: so.Session, address: str) -> int | None:
    row = session.connection().execute(_FIND_CONTACT, {"address": address}).first()
    return row.id if row else None


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
                  requester_id: int | None, flags: Iterable[str], now: datetime,
                  linked_ticket: int | None = None, language: str | None = None) -> int:
    return session.connection().execute(_ADD_TICKET, {
        "subject": subject, "status": "new", "priority": priority, "queue": queue,
        "requester_id": requester_id, "tags": [], "flags": list(flags),
        "created_at": now, "updated_at": now, "linked_ticket_id": linked_ticket,
        "language": language,
    }).scalar_one()


def touch_ticket(session: so.Session, number: int, now: datetime, status: str | None = None) -> None:
    if status:
        session.connection().execute(_SET_STATUS, {"number": number, "updated_at": now, "status": status,
                                                   "closed_at": now if status == "closed" else None,
                                                   "waiting_since": now if status in WAITING else None})
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
                 priority: str | None = None, assignee: str | None = None,
                 limit: int = 100) -> list[Ticket]:
    query = sa.select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    for column, value in ((Ticket.status, status), (Ticket.queue, queue), (Ticket.priority, priority),
                          (Ticket.assignee, assignee)):
        if value:
            query = query.where(column == value)
    return list(session.scalars(query))


def get_ticket(session: so.Session, number: int) -> Ticket | None:
    return session.get(Ticket, number)


def ticket_messages(session: so.Session, number: int) -> list[Message]:
    """The ticket's thread, oldest first (repeats recorded as duplicates are not part of it)."""
    return list(session.scalars(
        sa.select(Message).where(Message.ticket_id == number)
        .options(so.selectinload(Message.attachments)).order_by(Message.id)
    ))


_NOTICE_TICKET = (sa.select(
    _tickets.c.id, _tickets.c.subject, _tickets.c.status, _tickets.c.priority, _tickets.c.queue,
    _tickets.c.language, _tickets.c.assignee, _contacts.c.address, _contacts.c.name)
    .outerjoin(_contacts, _contacts.c.id == _tickets.c.requester_id)
    .where(_tickets.c.id == sa.bindparam("number")))
_FIRST_MESSAGE_ID = (sa.select(_messages.c.message_id)
                     .where(_messages.c.ticket_id == sa.bindparam("number"),
                            _messages.c.message_id.is_not(None))
                     .order_by(_messages.c.id).limit(1))
_PERSON = sa.select(_contacts.c.id, _contacts.c.address, _contacts.c.name, _contacts.c.language,
                    _contacts.c.timezone).where(_contacts.c.address == sa.bindparam("address"))
_SET_LANGUAGE = _tickets.update().where(_tickets.c.id == sa.bindparam("number")).values(
    language=sa.bindparam("language"))


def notice_ticket(session: so.Session, number: int):
    """What a notification shows of a ticket, and the Message-ID of its first mail."""
    connection = session.connection()
    row = connection.execute(_NOTICE_TICKET, {"number": number}).first()
    if row is None:
        return None, None
    return row, connection.execute(_FIRST_MESSAGE_ID, {"number": number}).scalar()


def person(session: so.Session, address: str):
    """(id, address, name, language, timezone) of a contact, or None."""
    return session.connection().execute(_PERSON, {"address": address}).first()


def set_ticket_language(session: so.Session, number: int, language: str) -> None:
    session.connection().execute(_SET_LANGUAGE, {"number": number, "language": language})


def set_contact_preferences(session: so.Session, address: str, now: datetime, **values) -> int:
    """An admin's setting of a contact's language or time zone (None clears it)."""
    contact = contact_id(session, address, "", now)
    session.execute(sa.update(Contact).where(Contact.id == contact).values(**values))
    return contact


_CONTACT_ADDRESS = sa.select(_contacts.c.address).where(_contacts.c.id == sa.bindparam("contact"))


def contact_address(session: so.Session, contact: int) -> str | None:
    return session.connection().execute(_CONTACT_ADDRESS, {"contact": contact}).scalar()


def add_tags(session: so.Session, number: int, tags: Iterable[str]) -> None:
    ticket = session.get(Ticket, number)
    if ticket is not None:
        ticket.tags = list(dict.fromkeys([*ticket.tags, *tags]))
        session.flush()


def change_ticket(session: so.Session, number: int, changes: dict, by: str, now: datetime) -> dict:
    """Set fields of a ticket and record each change in its history (status,
    priority, queue, assignee, category, subcategory); returns {field: (old, new)}."""
    ticket = session.get(Ticket, number)
    if ticket is None:
        return {}
    done = {}
    for field, value in changes.items():
        old = getattr(ticket, field)
        if old != value:
            done[field] = (old, value)
            events.add_change(session, number, field, old, value, by, now)
    if done:
        values = {field: new for field, (_, new) in done.items()}
        if "status" in values:
            values["closed_at"] = now if values["status"] == "closed" else None
            values["waiting_since"] = now if values["status"] in WAITING else None
            values["reminded_at"] = None
        session.execute(sa.update(Ticket).where(Ticket.id == number).values(updated_at=now, **values))
    return done


def waiting_tickets(session: so.Session, before: datetime, limit: int, after: tuple | None = None,
                    close_before: datetime | None = None) -> list:
    """Tickets waiting on their customer (or solved) since before `before`,
    oldest first, through the partial index, from after the (waiting_since,
    id) `after`; with `close_before`, a reminded or solved ticket only once
    it waits since before that (nothing else can be due for it). On
    PostgreSQL rows another process is handling are skipped, and these stay
    locked until commit."""
    query = (sa.select(_tickets.c.id, _tickets.c.status, _tickets.c.queue, _tickets.c.waiting_since,
                       _tickets.c.reminded_at, _tickets.c.requester_id)
             # waiting_since is set for these statuses only: the index alone finds them.
             .where(_tickets.c.waiting_since <= before)
             .order_by(_tickets.c.waiting_since, _tickets.c.id).limit(limit))
    if close_before is not None and close_before < before:
        query = query.where(sa.or_(
            sa.and_(_tickets.c.reminded_at.is_(None), _tickets.c.status == "pending"),
            _tickets.c.waiting_since <= close_before))
    if after is not None:
        query = query.where(sa.tuple_(_tickets.c.waiting_since, _tickets.c.id) > sa.tuple_(*after))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.connection().execute(query).all()


def mark_reminded(session: so.Session, number: int, now: datetime) -> None:
    session.connection().execute(_tickets.update().where(_tickets.c.id == number).values(reminded_at=now))


_CLOCKS = sa.select(
    _tickets.c.id, _tickets.c.status, _tickets.c.priority, _tickets.c.queue, _tickets.c.sla_target,
    _tickets.c.sla_since, _tickets.c.sla_used, _tickets.c.sla_notified, _tickets.c.sla_next_at,
    sa.func.coalesce(_tickets.c.first_response_due, _tickets.c.next_response_due).label("due"),
    _tickets.c.requester_id, _tickets.c.assignee)
_CLOCK = _CLOCKS.where(_tickets.c.id == sa.bindparam("number"))
_SET_CLOCK = _tickets.update().where(_tickets.c.id == sa.bindparam("number")).values(
    sla_target=sa.bindparam("target"), sla_since=sa.bindparam("since"), sla_used=sa.bindparam("used"),
    sla_notified=sa.bindparam("notified"), sla_next_at=sa.bindparam("next_at"),
    first_response_due=sa.bindparam("first_due"), next_response_due=sa.bindparam("next_due"))


def response_clock(session: so.Session, number: int):
    """A ticket's status, priority, queue and response clock (SPEC §7.2)."""
    return session.connection().execute(_CLOCK, {"number": number}).first()


def set_response_clock(session: so.Session, number: int, clock, times) -> None:
    """Store a scheduler.sla.Clock and its Times; the due time goes to the
    column of the answer awaited (first or next response)."""
    session.connection().execute(_SET_CLOCK, {
        "number": number, "target": clock.target, "since": clock.since, "used": clock.used,
        "notified": clock.notified, "next_at": times.next_at,
        "first_due": times.due if clock.target == "first" else None,
        "next_due": times.due if clock.target == "next" else None})


def clocks_due(session: so.Session, now: datetime, limit: int, after: tuple | None = None) -> list:
    """Tickets whose response clock needs the sweep at `now` (a warning or a
    breach), earliest first, through the partial index on sla_next_at, from
    after the (sla_next_at, id) `after`; on PostgreSQL rows another process
    is handling are skipped, and these stay locked until commit."""
    query = (_CLOCKS.where(_tickets.c.sla_next_at <= now)
             .order_by(_tickets.c.sla_next_at, _tickets.c.id).limit(limit))
    if after is not None:
        query = query.where(sa.tuple_(_tickets.c.sla_next_at, _tickets.c.id) > sa.tuple_(*after))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.connection().execute(query).all()


def running_clocks(session: so.Session, queue: str | None, limit: int) -> list:
    """Tickets whose answer is awaited with the clock running, the earliest due
    first (both due columns have a partial index)."""
    due = sa.func.coalesce(_tickets.c.first_response_due, _tickets.c.next_response_due)
    query = (sa.select(_tickets.c.id, _tickets.c.subject, _tickets.c.status, _tickets.c.priority,
                       _tickets.c.queue, _tickets.c.assignee, _tickets.c.sla_target, _tickets.c.sla_since,
                       _tickets.c.sla_used, _tickets.c.sla_notified, due.label("due"))
             .where(sa.or_(_tickets.c.first_response_due.is_not(None), _tickets.c.next_response_due.is_not(None)))
             .order_by(due).limit(limit))
    if queue:
        query = query.where(_tickets.c.queue == queue)
    return session.connection().execute(query).all()
