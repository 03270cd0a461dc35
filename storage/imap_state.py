"""Where fetching from each IMAP folder stands. Functions take a session and
never commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from storage.models import ImapState


def position(session: so.Session, mailbox: str, folder: str) -> tuple[int, int] | None:
    """(uidvalidity, last_uid) stored for a folder, or None the first time."""
    row = session.get(ImapState, (mailbox, folder))
    return (row.uidvalidity, row.last_uid) if row else None


def set_position(session: so.Session, mailbox: str, folder: str, uidvalidity: int, last_uid: int,
                 now: datetime) -> None:
    row = session.get(ImapState, (mailbox, folder))
    if row is None:
        session.add(ImapState(mailbox=mailbox, folder=folder, uidvalidity=uidvalidity, last_uid=last_uid,
                              updated_at=now))
    else:
        row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, now
    session.flush()


def forget(session: so.Session, mailbox: str) -> None:
    session.execute(sa.delete(ImapState).where(ImapState.mailbox == mailbox))
