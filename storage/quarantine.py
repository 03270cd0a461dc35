"""Quarantine entries: messages held back with a reason (SPEC §3.2). Functions
take a session and never commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from storage.models import QuarantineEntry

HELD, RELEASED, DROPPED = "held", "released", "dropped"


def add(session: so.Session, **values) -> int:
    values.setdefault("status", HELD)
    values.setdefault("updated_at", values["created_at"])
    table = QuarantineEntry.__table__
    return session.execute(table.insert().values(**values).returning(table.c.id)).scalar_one()


def held_copy(session: so.Session, raw_sha256: str, reason: str) -> int | None:
    """A held entry for the same bytes and reason: a re-delivery, not a new case."""
    return session.execute(
        sa.select(QuarantineEntry.id).where(QuarantineEntry.raw_sha256 == raw_sha256,
                                            QuarantineEntry.reason == reason,
                                            QuarantineEntry.status == HELD).limit(1)
    ).scalar()


def held_again(session: so.Session, entry_id: int, *, action: str, reason: str, detail: str,
               ticket_id: int | None, now: datetime) -> None:
    """A retried entry that failed again keeps its id; the attempt is counted."""
    session.execute(
        sa.update(QuarantineEntry).where(QuarantineEntry.id == entry_id).values(
            action=action, reason=reason, detail=detail, ticket_id=ticket_id, status=HELD,
            attempts=QuarantineEntry.attempts + 1, updated_at=now))


def release(session: so.Session, entry_id: int, *, ticket_id: int | None, now: datetime) -> None:
    session.execute(
        sa.update(QuarantineEntry).where(QuarantineEntry.id == entry_id).values(
            status=RELEASED, ticket_id=ticket_id, attempts=QuarantineEntry.attempts + 1,
            updated_at=now))


def drop(session: so.Session, entry_id: int, now: datetime) -> None:
    session.execute(
        sa.update(QuarantineEntry).where(QuarantineEntry.id == entry_id)
        .values(status=DROPPED, updated_at=now))


def get(session: so.Session, entry_id: int) -> QuarantineEntry | None:
    return session.get(QuarantineEntry, entry_id)


def entries(session: so.Session, *, status: str | None = HELD, limit: int = 200) -> list[QuarantineEntry]:
    query = sa.select(QuarantineEntry).order_by(QuarantineEntry.id.desc()).limit(limit)
    if status:
        query = query.where(QuarantineEntry.status == status)
    return list(session.scalars(query))
