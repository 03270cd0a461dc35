"""The scheduled sweeps (SPEC §7.4). Each selects only due rows through an
index, decides with the pure rules, and writes the change and its
notifications in one transaction; on PostgreSQL the rows it handles are
locked and skipped by other processes (SKIP LOCKED), so several mailgate
processes never send the same notice twice. Running a sweep twice at the
same instant does nothing the second time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from mailgate.config import Config
from mailgate.notify import events
from mailgate.notify.enqueue import Notifier
from scheduler import clock
from scheduler.inactivity import REMIND, Policy, due_action
from scheduler.sla import BREACH, Step, business_used, notice_due, queue_calendar, schedule
from storage import tickets
from storage.db import reading, transaction

log = logging.getLogger("mailgate.scheduler")


@dataclass(frozen=True)
class Done:
    ticket: int
    action: str                 # "remind", "close"; "warning", "breach"
    status: str                 # the status it had


def run_sweeps(config: Config, engine: sa.Engine, notifier: Notifier, now: datetime,
               dry_run: bool = False) -> list[Done]:
    """Every sweep once, as of `now`."""
    return [item for sweep in SWEEPS.values() for item in sweep(config, engine, notifier, now, dry_run)]


def sweep_sla(config: Config, engine: sa.Engine, notifier: Notifier, now: datetime,
              dry_run: bool = False) -> list[Done]:
    """Warn of answers soon due and escalate those overdue (SPEC §7.2)."""
    done: list[Done] = []

    def handle(session, row) -> None:
        calendar = queue_calendar(config, row.queue)
        running = clock.clock_of(row)
        length = clock.lengths(config, row.queue, row.priority, calendar)[running.target]
        times = schedule(running, calendar, length, config.sla.warning_percent)
        notice = notice_due(running, times, now)
        if notice is not None:
            done.append(Done(row.id, notice, row.status))
        if dry_run:
            return
        if notice is None:          # the config changed since it was scheduled
            tickets.set_response_clock(session, row.id, running, times)
        else:
            _escalate(session, config, notifier, row, replace(running, notified=notice), calendar, length, now)

    _in_batches(engine, config.scheduler.batch_size, dry_run,
                lambda session, limit, after: tickets.clocks_due(session, now, limit, after),
                lambda row: (row.sla_next_at, row.id), handle)
    for item in done:
        log.info("#%d (%s): sla %s%s", item.ticket, item.status, item.action, " (dry run)" if dry_run else "")
    return done


def _in_batches(engine: sa.Engine, size: int, dry_run: bool, fetch, key, handle) -> None:
    """Fetch due rows `size` at a time, in index order after the last one seen,
    and handle each batch in its own transaction (so locks are short and a
    failure costs one batch), until a batch comes back short."""
    after = None
    while True:
        with (reading(engine) if dry_run else transaction(engine)) as session:
            rows = fetch(session, size, after)
            for row in rows:
                handle(session, row)
        if len(rows) < size:
            return
        after = key(rows[-1])


def _escalate(session, config: Config, notifier: Notifier, row, running, calendar, length: timedelta,
              now: datetime) -> None:
    times = schedule(running, calendar, length, config.sla.warning_percent)
    tickets.set_response_clock(session, row.id, running, times)
    used = business_used(running, calendar, now)
    clock.record(session, row.id, Step(running.notified, running.target, used), times, now)
    if running.notified == BREACH:
        tickets.add_flags(session, row.id, ["breached"])
        event = events.sla_breach(row.id, times.due.isoformat())
    else:
        event = events.sla_warning(row.id, times.due.isoformat(), min(99, int(100 * used / length.total_seconds())))
    notifier.record(session, event, None, min(now, datetime.now(timezone.utc)))


def sweep_inactivity(config: Config, engine: sa.Engine, notifier: Notifier, now: datetime,
                     dry_run: bool = False) -> list[Done]:
    """Remind and close the tickets whose customer has not answered."""
    settings = config.scheduler
    policy = Policy(settings.close_after_days, settings.remind_after_days, settings.business_days)
    # In calendar days nothing younger than the first deadline can be due;
    # business days can be shorter than calendar ones: then look at all.
    earliest = min(settings.remind_after_days, settings.close_after_days) or settings.close_after_days
    before = now if settings.business_days else now - timedelta(days=earliest)
    close_before = None if settings.business_days else now - timedelta(days=settings.close_after_days)
    done: list[Done] = []

    def handle(session, row) -> None:
        calendar = queue_calendar(config, row.queue)
        due = due_action(policy, calendar, row.status, row.waiting_since, row.reminded_at, now)
        if due is None:
            return
        action, deadline = due
        done.append(Done(row.id, action, row.status))
        if not dry_run:
            _apply(session, config, notifier, row, action, deadline, now)

    _in_batches(engine, settings.batch_size, dry_run,
                lambda session, limit, after: tickets.waiting_tickets(session, before, limit, after, close_before),
                lambda row: (row.waiting_since, row.id), handle)
    for item in done:
        log.info("#%d (%s): %s%s", item.ticket, item.status, item.action, " (dry run)" if dry_run else "")
    return done


def _apply(session, config: Config, notifier: Notifier, row, action: str, deadline: datetime,
           now: datetime) -> None:
    requester = tickets.contact_address(session, row.requester_id) if row.requester_id else None
    if action == REMIND:
        tickets.mark_reminded(session, row.id, now)
        notices = [events.inactivity_reminder(requester, row.id, row.requester_id, deadline.isoformat())]
    else:
        tickets.change_ticket(session, row.id, {"status": "closed"}, "scheduler", now)
        clock.update(session, config, row.id, now)
        notices = [events.closed_inactivity(requester, row.id) if row.status == "pending"
                   else events.ticket_closed(requester, row.id)]
    # The mail goes out now, even when an admin runs the sweep "as of" a later instant.
    sent_at = min(now, datetime.now(timezone.utc))
    for event in notices if requester else ():
        notifier.record(session, event, None, sent_at)


# The sweeps by name, in the order they run.
SWEEPS = {"sla": sweep_sla, "inactivity": sweep_inactivity}
