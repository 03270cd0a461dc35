"""The scheduled sweeps (SPEC §7.4). Each selects only due rows through an
index, decides with the pure rules, and writes the change and its
notifications in one transaction; on PostgreSQL the rows it handles are
locked and skipped by other processes (SKIP LOCKED), so several mailgate
processes never send the same notice twice. Running a sweep twice at the
same instant does nothing the second time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from mailgate.config import Config
from mailgate.notify import events
from mailgate.notify.enqueue import Notifier
from scheduler.inactivity import REMIND, Policy, due_action
from scheduler.sla import queue_calendar
from storage import tickets
from storage.db import reading, transaction

log = logging.getLogger("mailgate.scheduler")


@dataclass(frozen=True)
class Done:
    ticket: int
    action: str                 # "remind", "close"
    status: str                 # the status it had


def sweep_inactivity(config: Config, engine: sa.Engine, notifier: Notifier, now: datetime,
                     dry_run: bool = False) -> list[Done]:
    """Remind and close the tickets whose customer has not answered."""
    settings = config.scheduler
    policy = Policy(settings.close_after_days, settings.remind_after_days, settings.business_days)
    # In calendar days nothing younger than the first deadline can be due;
    # business days can be shorter than calendar ones: then look at all.
    earliest = min(settings.remind_after_days, settings.close_after_days) or settings.close_after_days
    before = now if settings.business_days else now - timedelta(days=earliest)
    done: list[Done] = []
    with (reading(engine) if dry_run else transaction(engine)) as session:
        for row in tickets.waiting_tickets(session, before, settings.batch_size):
            calendar = queue_calendar(config, row.queue)
            due = due_action(policy, calendar, row.status, row.waiting_since, row.reminded_at, now)
            if due is None:
                continue
            action, deadline = due
            done.append(Done(row.id, action, row.status))
            if not dry_run:
                _apply(session, notifier, row, action, deadline, now)
    for item in done:
        log.info("#%d (%s): %s%s", item.ticket, item.status, item.action, " (dry run)" if dry_run else "")
    return done


def _apply(session, notifier: Notifier, row, action: str, deadline: datetime, now: datetime) -> None:
    requester = tickets.contact_address(session, row.requester_id) if row.requester_id else None
    if action == REMIND:
        tickets.mark_reminded(session, row.id, now)
        notices = [events.inactivity_reminder(requester, row.id, row.requester_id, deadline.isoformat())]
    else:
        tickets.change_ticket(session, row.id, {"status": "closed"}, "scheduler", now)
        notices = [events.closed_inactivity(requester, row.id) if row.status == "pending"
                   else events.ticket_closed(requester, row.id)]
    # The mail goes out now, even when an admin runs the sweep "as of" a later instant.
    sent_at = min(now, datetime.now(timezone.utc))
    for event in notices if requester else ():
        notifier.record(session, event, None, sent_at)
