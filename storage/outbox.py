"""Outbox entries as bounces see them, and the suppression list of addresses
that bounced hard (SPEC §4.4, §6.4). The notifier writes and sends the
entries; here they are looked up and marked failed. Functions take a session
and never commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from storage.models import Outbox, Suppression

QUEUED, SENT, FAILED = "queued", "sent", "failed"

_outbox = Outbox.__table__
_suppressions = Suppression.__table__
_RECIPIENT_OF = sa.select(_outbox.c.ticket_id, _outbox.c.to_addr).where(_outbox.c.id == sa.bindparam("entry"))
_SUPPRESSED = sa.select(_suppressions.c.address).where(
    _suppressions.c.address == sa.bindparam("address"), _suppressions.c.until > sa.bindparam("now"))


def add(session: so.Session, **values) -> int:
    values.setdefault("status", QUEUED)
    return session.execute(_outbox.insert().values(**values).returning(_outbox.c.id)).scalar_one()


def get(session: so.Session, entry_id: int) -> Outbox | None:
    return session.get(Outbox, entry_id)


def recipient_of(session: so.Session, entry_id: int) -> tuple[int | None, str] | None:
    """(ticket, recipient address) of an entry, or None if there is no such entry."""
    row = session.connection().execute(_RECIPIENT_OF, {"entry": entry_id}).first()
    return (row.ticket_id, row.to_addr.lower()) if row else None


def mark_failed(session: so.Session, entry_id: int, error: str) -> None:
    session.execute(sa.update(Outbox).where(Outbox.id == entry_id)
                    .values(status=FAILED, last_error=error[:2000], next_attempt_at=None))


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


def suppressions(session: so.Session, now: datetime) -> list[Suppression]:
    return list(session.scalars(sa.select(Suppression).where(Suppression.until > now)
                                .order_by(Suppression.until)))
