"""The outbox (SPEC §6.4): notifications written in the transaction of the
change that caused them, claimed by the sender, and marked sent, failed or
skipped; and the suppression list of addresses that bounced hard (§4.4).
Functions take a session and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from storage.models import Outbox, Suppression

QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"

_outbox = Outbox.__table__
_suppressions = Suppression.__table__
_RECIPIENT_OF = sa.select(_outbox.c.ticket_id, _outbox.c.to_addr).where(_outbox.c.id == sa.bindparam("entry"))
_SUPPRESSED = sa.select(_suppressions.c.address).where(
    _suppressions.c.address == sa.bindparam("address"), _suppressions.c.until > sa.bindparam("now"))
_ADD = _outbox.insert().returning(_outbox.c.id)
_SIGN = _outbox.update().where(_outbox.c.id == sa.bindparam("entry")).values(
    message_id=sa.bindparam("message_id"), reply_to=sa.bindparam("reply"))


@dataclass(frozen=True)
class Claimed:
    """An entry the sender holds for one attempt."""

    id: int
    ticket_id: int | None
    event: str
    to_addr: str
    language: str | None
    message_id: str | None
    reply_to: str | None
    context: dict[str, Any]
    raw: bytes | None
    attempts: int
    created_at: datetime


def add(session: so.Session, **values) -> int:
    values.setdefault("status", QUEUED)
    return session.execute(_outbox.insert().values(**values).returning(_outbox.c.id)).scalar_one()


def add_signed(session: so.Session, values: dict, sign) -> int:
    """Insert an entry, then set the Message-ID and Reply-To that `sign(id)`
    makes from its id (both carry the id, signed)."""
    connection = session.connection()
    entry = connection.execute(_ADD, values).scalar_one()
    message_id, reply_to = sign(entry)
    connection.execute(_SIGN, {"entry": entry, "message_id": message_id, "reply": reply_to})
    return entry


def get(session: so.Session, entry_id: int) -> Outbox | None:
    return session.get(Outbox, entry_id)


def raw_of(session: so.Session, entry_id: int) -> bytes | None:
    return session.execute(sa.select(_outbox.c.raw).where(_outbox.c.id == entry_id)).scalar()


def listed(session: so.Session, *, status: str | None = None, ticket: int | None = None,
           limit: int = 200) -> list[Outbox]:
    query = sa.select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if status:
        query = query.where(Outbox.status == status)
    if ticket is not None:
        query = query.where(Outbox.ticket_id == ticket)
    return list(session.scalars(query))


def counts(session: so.Session) -> dict[str, int]:
    rows = session.execute(sa.select(Outbox.status, sa.func.count()).group_by(Outbox.status))
    return {status: count for status, count in rows}


_ANY_DUE = (sa.select(_outbox.c.id).where(_outbox.c.next_attempt_at <= sa.bindparam("now"),
                                          _outbox.c.status == QUEUED).limit(1))


def any_due(session: so.Session, now: datetime) -> bool:
    """Is anything due? A cheap read, so an idle sender takes no write lock."""
    return session.connection().execute(_ANY_DUE, {"now": now}).first() is not None


def claim_due(session: so.Session, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Up to `limit` queued entries due by `now`, oldest first, each counted as
    one more attempt and hidden from other senders for `lease` (if this
    process dies, they come back then). PostgreSQL: rows another sender is
    claiming right now are skipped (SKIP LOCKED), not waited for."""
    query = (sa.select(_outbox.c.id, _outbox.c.ticket_id, _outbox.c.event, _outbox.c.to_addr,
                       _outbox.c.language, _outbox.c.message_id, _outbox.c.reply_to,
                       _outbox.c.context, _outbox.c.raw, _outbox.c.attempts, _outbox.c.created_at)
             .where(_outbox.c.next_attempt_at <= now, _outbox.c.status == QUEUED)
             .order_by(_outbox.c.next_attempt_at, _outbox.c.id).limit(limit))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.connection().execute(query).all()
    if not rows:
        return []
    session.connection().execute(
        _outbox.update().where(_outbox.c.id.in_([row.id for row in rows]))
        .values(attempts=_outbox.c.attempts + 1, next_attempt_at=now + lease))
    return [Claimed(row.id, row.ticket_id, row.event, row.to_addr, row.language, row.message_id,
                    row.reply_to, row.context, row.raw, row.attempts + 1, row.created_at) for row in rows]


_BY_ID = _outbox.c.id == sa.bindparam("entry")
_STORE_RAW = _outbox.update().where(_BY_ID).values(raw=sa.bindparam("raw"), subject=sa.bindparam("subject"))
_MARK_SENT = _outbox.update().where(_BY_ID).values(
    status=SENT, sent_at=sa.bindparam("now"), next_attempt_at=None, last_error=None)
_MARK_RETRY = _outbox.update().where(_BY_ID).values(
    last_error=sa.bindparam("error"), next_attempt_at=sa.bindparam("when"))
_MARK_FAILED = _outbox.update().where(_BY_ID).values(
    status=sa.bindparam("status"), last_error=sa.bindparam("error"), next_attempt_at=None)


def store_raw(session: so.Session, entry_id: int, raw: bytes, subject: str) -> None:
    """Keep the rendered mail: every attempt sends these bytes."""
    session.connection().execute(_STORE_RAW, {"entry": entry_id, "raw": raw, "subject": subject})


def mark_sent(session: so.Session, entry_ids: list[int], now: datetime) -> None:
    if entry_ids:
        session.connection().execute(_MARK_SENT, [{"entry": e, "now": now} for e in entry_ids])


def mark_retry(session: so.Session, entry_id: int, error: str, when: datetime) -> None:
    session.connection().execute(_MARK_RETRY, {"entry": entry_id, "error": error[:2000], "when": when})


def mark_failed(session: so.Session, entry_id: int, error: str, status: str = FAILED) -> None:
    session.connection().execute(_MARK_FAILED, {"entry": entry_id, "error": error[:2000], "status": status})


def requeue(session: so.Session, entry_id: int, now: datetime) -> bool:
    """`outbox retry`: send a failed or skipped entry again, rendered afresh
    (a template fixed since) but with the same Message-ID. Its attempts and
    the time it gives up after start again from now."""
    result = session.connection().execute(
        _outbox.update().where(_outbox.c.id == entry_id, _outbox.c.status.in_((FAILED, SKIPPED)))
        .values(status=QUEUED, next_attempt_at=now, raw=None, last_error=None, attempts=0,
                created_at=now))
    return result.rowcount == 1


def recipient_of(session: so.Session, entry_id: int) -> tuple[int | None, str] | None:
    """(ticket, recipient address) of an entry, or None if there is no such entry."""
    row = session.connection().execute(_RECIPIENT_OF, {"entry": entry_id}).first()
    return (row.ticket_id, row.to_addr.lower()) if row else None


def suppress(session: so.Session, addresses: tuple[str, ...], reason: str, until: datetime,
             now: datetime) -> None:
    """Send nothing to these addresses until `until` (a later bounce extends it)."""
    for address in dict.fromkeys(addresses):
        entry = session.get(Suppression, address)
        if entry is None:
            session.add(Suppression(address=address, reason=reason[:200], until=until, created_at=now))
        else:
            entry.reason, entry.until = reason[:200], max(entry.until, until)
    session.flush()


def is_suppressed(session: so.Session, address: str, now: datetime) -> bool:
    return session.connection().execute(_SUPPRESSED, {"address": address, "now": now}).first() is not None


def suppression_of(session: so.Session, address: str, now: datetime) -> str | None:
    """Why `address` gets nothing now, or None."""
    entry = session.get(Suppression, address)
    return entry.reason if entry is not None and entry.until > now else None


def suppressions(session: so.Session, now: datetime) -> list[Suppression]:
    return list(session.scalars(sa.select(Suppression).where(Suppression.until > now)
                                .order_by(Suppression.until)))
