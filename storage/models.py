"""The database schema (SPEC §8) as typed SQLAlchemy 2 models."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(so.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), list[str]: sa.JSON()}


class Contact(Base):
    __tablename__ = "contacts"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    address: so.Mapped[str] = so.mapped_column(sa.String(320), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    language: so.Mapped[str | None] = so.mapped_column(sa.String(16))     # set by an admin
    timezone: so.Mapped[str | None] = so.mapped_column(sa.String(64))     # set by an admin
    created_at: so.Mapped[datetime]


class Ticket(Base):
    """A ticket; its id is the number customers see in "[#123]"."""

    __tablename__ = "tickets"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    subject: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    status: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)
    priority: so.Mapped[str] = so.mapped_column(sa.String(8))
    queue: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    category: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    subcategory: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    requester_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("contacts.id"), index=True)
    assignee: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    language: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    tags: so.Mapped[list[str]] = so.mapped_column(default=list)
    flags: so.Mapped[list[str]] = so.mapped_column(default=list)
    created_at: so.Mapped[datetime]
    updated_at: so.Mapped[datetime]
    closed_at: so.Mapped[datetime | None]
    first_response_due: so.Mapped[datetime | None]
    next_response_due: so.Mapped[datetime | None]
    rating: so.Mapped[int | None]
    # Since when the ticket waits on the customer (pending) or for closing
    # (solved), and when the inactivity reminder went (SPEC §7.3).
    waiting_since: so.Mapped[datetime | None]
    reminded_at: so.Mapped[datetime | None]
    # The response clock (SPEC §7.2, scheduler.sla.Clock): which answer it
    # waits for, since when it runs (None: stopped), the business seconds used
    # before that, the last notice sent, and when the sweep looks again.
    sla_target: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    sla_since: so.Mapped[datetime | None]
    sla_used: so.Mapped[float] = so.mapped_column(sa.Float(), default=0.0, server_default="0")
    sla_notified: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    sla_next_at: so.Mapped[datetime | None]
    linked_ticket_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("tickets.id"))

    requester: so.Mapped[Contact | None] = so.relationship(lazy="joined")

    # Partial indexes: most tickets have no assignee or no due time at a given
    # moment, and an index that skips them costs nothing on insert.
    __table_args__ = tuple(
        sa.Index(f"ix_tickets_{column}", column, sqlite_where=sa.text(f"{column} IS NOT NULL"),
                 postgresql_where=sa.text(f"{column} IS NOT NULL"))
        for column in ("assignee", "first_response_due", "next_response_due", "waiting_since",
                       "sla_next_at"))


class Message(Base):
    """One inbound or outbound mail of a ticket; rejected mail has no ticket."""

    __tablename__ = "messages"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    ticket_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("tickets.id"), index=True)
    direction: so.Mapped[str] = so.mapped_column(sa.String(3))          # "in" or "out"
    visibility: so.Mapped[str] = so.mapped_column(sa.String(10))        # public/internal/automatic
    author_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("contacts.id"))
    from_address: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    from_name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    to_addrs: so.Mapped[list[str]] = so.mapped_column(default=list)
    cc_addrs: so.Mapped[list[str]] = so.mapped_column(default=list)
    subject: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    date: so.Mapped[datetime | None]
    date_offset: so.Mapped[int | None]                                   # minutes east of UTC
    received_at: so.Mapped[datetime]
    message_id: so.Mapped[str | None] = so.mapped_column(sa.String(500), index=True)
    in_reply_to: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    refs: so.Mapped[str | None] = so.mapped_column(sa.Text)                # References, space separated
    visible_text: so.Mapped[str | None] = so.mapped_column(sa.Text)
    text: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    html: so.Mapped[str | None] = so.mapped_column(sa.Text)
    language: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    raw_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    size: so.Mapped[int] = so.mapped_column(default=0)
    source: so.Mapped[str] = so.mapped_column(sa.String(300))
    action: so.Mapped[str] = so.mapped_column(sa.String(16))
    matched_by: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    rule_hits: so.Mapped[list[str]] = so.mapped_column(default=list)
    # Set on the first copy only, so the unique index catches a concurrent duplicate.
    dedup_key: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    duplicate_of: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("messages.id"))

    attachments: so.Mapped[list[Attachment]] = so.relationship(order_by="Attachment.id")


class Attachment(Base):
    __tablename__ = "attachments"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    message_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("messages.id"), index=True)
    filename: so.Mapped[str] = so.mapped_column(sa.String(255))
    content_type: so.Mapped[str] = so.mapped_column(sa.String(255))
    size: so.Mapped[int]
    sha256: so.Mapped[str] = so.mapped_column(sa.String(64))
    content_id: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    inline: so.Mapped[bool] = so.mapped_column(default=False)
    stored: so.Mapped[bool] = so.mapped_column(default=True)


class Outbox(Base):
    """A notification waiting for, or done with, delivery (SPEC §6.4)."""

    __tablename__ = "outbox"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    ticket_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("tickets.id"), index=True)
    event: so.Mapped[str] = so.mapped_column(sa.String(32))
    to_addr: so.Mapped[str] = so.mapped_column(sa.String(320))
    subject: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    language: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)   # queued/sent/failed/skipped
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime | None] = so.mapped_column(index=True)
    message_id: so.Mapped[str | None] = so.mapped_column(sa.String(500), index=True)
    reply_to: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    raw_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime]
    sent_at: so.Mapped[datetime | None]
    # What the templates get, fixed when the event happened; the mail is
    # rendered from it once, before the first attempt, and every retry sends
    # those same bytes (same Message-ID, SPEC §6.4).
    context: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    raw: so.Mapped[bytes | None] = so.mapped_column(sa.LargeBinary, deferred=True)


class QuarantineEntry(Base):
    """A message held back with a reason: it could not be processed (quarantined),
    may not continue its ticket (rejected), or is a bounce we could not match."""

    __tablename__ = "quarantine"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    created_at: so.Mapped[datetime]
    updated_at: so.Mapped[datetime]
    source: so.Mapped[str] = so.mapped_column(sa.String(300))
    mail_from: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    rcpt_tos: so.Mapped[list[str]] = so.mapped_column(default=list)
    raw_sha256: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    size: so.Mapped[int] = so.mapped_column(default=0)
    message_id: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    from_address: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    subject: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    action: so.Mapped[str] = so.mapped_column(sa.String(16))
    reason: so.Mapped[str] = so.mapped_column(sa.String(200), index=True)
    detail: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    status: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)     # held/released/dropped
    attempts: so.Mapped[int] = so.mapped_column(default=1)
    ticket_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("tickets.id"))


class Participant(Base):
    """Someone who may continue a ticket besides its requester (SPEC §4.3)."""

    __tablename__ = "ticket_participants"

    ticket_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("tickets.id"), primary_key=True)
    contact_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("contacts.id"), primary_key=True)
    role: so.Mapped[str] = so.mapped_column(sa.String(16))            # requester, cc, reply_to
    created_at: so.Mapped[datetime]


class Event(Base):
    """A notice a decision caused (SPEC §6.1), waiting for the notifier."""

    __tablename__ = "events"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    ticket_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("tickets.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    audience: so.Mapped[str] = so.mapped_column(sa.String(10))         # customer or agents
    recipient: so.Mapped[str | None] = so.mapped_column(sa.String(320))
    automatic: so.Mapped[bool] = so.mapped_column(default=True)
    data: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), index=True)   # queued, no_recipient
    created_at: so.Mapped[datetime]

    # The hourly limit of automatic mails counts by recipient and time.
    __table_args__ = (sa.Index("ix_events_recipient_created_at", "recipient", "created_at"),)


class Suppression(Base):
    """An address we send nothing to until a date: it bounced hard (SPEC §4.4)."""

    __tablename__ = "suppressions"

    address: so.Mapped[str] = so.mapped_column(sa.String(320), primary_key=True)
    reason: so.Mapped[str] = so.mapped_column(sa.String(200))
    until: so.Mapped[datetime]
    created_at: so.Mapped[datetime]


class ImapState(Base):
    """Where fetching from an IMAP folder stands (SPEC §3.1): the folder's
    UIDVALIDITY and the UID up to which every message is done, so a restart
    resumes there instead of reading the whole folder again."""

    __tablename__ = "imap_state"

    mailbox: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    folder: so.Mapped[str] = so.mapped_column(sa.String(255), primary_key=True)
    uidvalidity: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    last_uid: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    updated_at: so.Mapped[datetime]
