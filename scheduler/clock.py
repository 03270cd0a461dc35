"""Keeps each ticket's response clock in step with what happens to it: reads
the clock from the ticket, moves it with the pure rules of scheduler.sla,
writes it back with its due times and one history line per step. Runs in
the caller's transaction, so the clock never disagrees with the ticket."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy.orm as so

from mailgate.config import Config
from scheduler.business_time import Calendar
from scheduler.sla import FIRST, NEXT, Clock, Step, Times, advance, queue_calendar, schedule, target
from storage import events, tickets

SLA = "sla"                           # the kind of a ticket's SLA history lines


def lengths(config: Config, queue: str, priority: str, calendar: Calendar) -> dict[str, timedelta]:
    return {which: target(config, queue, priority, which).length(calendar) for which in (FIRST, NEXT)}


def update(session: so.Session, config: Config, number: int, now: datetime, mail: str | None = None) -> None:
    """Move ticket `number`'s clock after an event (see sla.advance for `mail`);
    a new priority or queue reschedules it."""
    row = tickets.response_clock(session, number)
    if row is None:
        return
    calendar = queue_calendar(config, row.queue)
    durations = lengths(config, row.queue, row.priority, calendar)
    clock = clock_of(row)
    moved, steps = advance(clock, row.status, mail, now, calendar, durations)
    times = schedule(moved, calendar, durations[moved.target], config.sla.warning_percent) \
        if moved.target else Times()
    if moved == clock and (times.due, times.next_at) == (row.due, row.sla_next_at):
        return                        # the usual case for a change that concerns no answer
    tickets.set_response_clock(session, number, moved, times)
    for step in steps:
        record(session, number, step, times if step.what in ("started", "resumed") else None, now)


def clock_of(row) -> Clock:
    return Clock(row.sla_target, row.sla_since, row.sla_used or 0.0, row.sla_notified)


def record(session: so.Session, number: int, step: Step, times: Times | None, now: datetime) -> None:
    """One line of the ticket's SLA history (`tickets show` prints them)."""
    data = {"step": step.what, "target": step.target, "used": round(step.used)}
    if step.late:
        data["late"] = True
    if times is not None and times.due is not None:
        data["due"] = times.due.isoformat()
    events.add(session, kind=SLA, audience=events.HISTORY, recipient=None, ticket=number,
               automatic=False, data=data, now=now, status=events.HISTORY)

