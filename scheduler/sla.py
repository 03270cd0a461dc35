"""Response targets (SPEC §7.2), pure. A ticket's response clock runs
while it waits on an agent (`new`, `open`) and stops while it waits on the
customer; an agent's public answer meets the target, and the customer's
next mail starts the next one. The clock's state is a `Clock` value kept on
the ticket; `advance` moves it on an event, `schedule` says when it is due
and when the sweep must look at it again."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from mailgate.config import Config
from scheduler.business_time import Calendar, calendar

FIRST, NEXT = "first", "next"                   # which answer the clock waits for
WARNING, BREACH = "warning", "breach"           # the notices a target can cause
CREATED, CUSTOMER, RESPONSE = "created", "customer", "response"   # what a mail was
RUNNING = ("new", "open")                       # statuses that wait on an agent
PAUSED = ("pending", "solved")                  # statuses that wait on the customer
_TARGET = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?")


@dataclass(frozen=True)
class Target:
    """A response time: whole business days of the queue's calendar (one is
    the length of its working day) plus hours and minutes of business time."""

    days: int = 0
    clock: timedelta = timedelta(0)

    def length(self, calendar: Calendar) -> timedelta:
        return calendar.day_length * self.days + self.clock

    @property
    def shown(self) -> timedelta:
        """How a customer is told it: "1 day", "4 hours"."""
        return timedelta(days=self.days) + self.clock


def parse_target(text: str) -> Target:
    """"1h", "30m", "1d", "1d 4h" -> Target; ValueError on anything else."""
    match = _TARGET.fullmatch(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f'expected a response time such as "30m", "4h", "1d" or "1d 4h", got {text!r}')
    days, hours, minutes = (int(g or 0) for g in match.groups())
    if not days and not hours and not minutes:
        raise ValueError(f"a response time must be longer than zero, got {text!r}")
    return Target(days, timedelta(hours=hours, minutes=minutes))


@dataclass(frozen=True)
class Clock:
    """The response clock of one ticket."""

    target: str | None = None           # FIRST or NEXT; None: nothing is awaited
    since: datetime | None = None       # running since; None: stopped
    used: float = 0.0                   # business seconds used before `since`
    notified: str | None = None         # WARNING or BREACH: the last notice of this target


@dataclass(frozen=True)
class Step:
    """One line of a ticket's SLA history."""

    what: str                           # started, paused, resumed, met, stopped, warning, breach
    target: str
    used: float                         # business seconds used so far
    late: bool = False                  # met after the target


@dataclass(frozen=True)
class Times:
    due: datetime | None = None         # when the answer is due (None: clock stopped)
    next_at: datetime | None = None     # when the sweep has to look again (warning, then breach)


def advance(clock: Clock, status: str, mail: str | None, now: datetime, calendar: Calendar,
            lengths: dict[str, timedelta]) -> tuple[Clock, list[Step]]:
    """The clock after an event: `mail` is CREATED (a customer's mail opened
    the ticket), CUSTOMER (a customer's later mail), RESPONSE (an agent's
    public answer) or None (a change of status, priority or queue alone);
    `status` is the ticket's status after the event; `lengths` the business
    time of the FIRST and NEXT targets."""
    steps: list[Step] = []
    if mail == RESPONSE and clock.target:
        used = business_used(clock, calendar, now)
        steps.append(Step("met", clock.target, used, late=used > lengths[clock.target].total_seconds()))
        clock = Clock()
    if mail in (CREATED, CUSTOMER) and status in RUNNING and clock.target is None:
        clock = Clock(FIRST if mail == CREATED else NEXT, now)
        steps.append(Step("started", clock.target, 0.0))
    if clock.target is None:
        return clock, steps
    if status in RUNNING and clock.since is None:
        clock = replace(clock, since=now)
        steps.append(Step("resumed", clock.target, clock.used))
    elif status in PAUSED and clock.since is not None:
        clock = replace(clock, since=None, used=business_used(clock, calendar, now))
        steps.append(Step("paused", clock.target, clock.used))
    elif status not in RUNNING + PAUSED:                 # closed: nothing is awaited any more
        steps.append(Step("stopped", clock.target, business_used(clock, calendar, now)))
        clock = Clock()
    return clock, steps


def schedule(clock: Clock, calendar: Calendar, length: timedelta, warning_percent: int) -> Times:
    """When the running target is due, and when it next needs the sweep."""
    if clock.target is None or clock.since is None:
        return Times()
    used = timedelta(seconds=clock.used)
    due = calendar.add(clock.since, max(length - used, timedelta(0)))
    if clock.notified == BREACH:
        return Times(due)
    if clock.notified == WARNING:
        return Times(due, due)
    warn_left = length * warning_percent / 100 - used
    return Times(due, calendar.add(clock.since, max(warn_left, timedelta(0))))


def notice_due(clock: Clock, times: Times, now: datetime) -> str | None:
    """The notice the sweep sends at `now`: BREACH once the answer is late,
    WARNING once its share of the time is used (never after the breach)."""
    if times.due is None or times.next_at is None or now < times.next_at:
        return None
    if now >= times.due:
        return BREACH if clock.notified != BREACH else None
    return WARNING if clock.notified is None else None


def business_used(clock: Clock, calendar: Calendar, now: datetime) -> float:
    """Business seconds the clock has used by `now`."""
    if clock.since is None:
        return clock.used
    return clock.used + calendar.elapsed(clock.since, now).total_seconds()


# -- from the config --------------------------------------------------------------

def target(config: Config, queue: str, priority: str, which: str = FIRST) -> Target:
    """The response time of `which` answer for a ticket of `queue` and `priority`."""
    settings = config.queue(queue)
    overrides = dict(getattr(settings, f"{which}_response", ()) if settings else ())
    default = getattr(config.sla, f"{which}_response_{priority}", None) or \
        getattr(config.sla, f"{which}_response_medium")
    return parse_target(overrides.get(priority, default))


def queue_calendar(config: Config, queue: str) -> Calendar:
    settings = config.queue(queue) or config.queues[0]
    return _calendar(settings.timezone or config.notify.timezone, settings.hours, settings.holidays,
                     settings.closed_dates)


@lru_cache(maxsize=64)
def _calendar(zone: str, hours: str, country: str, closed: tuple[str, ...]) -> Calendar:
    return calendar(zone, hours, country, closed)


def first_response_due(config: Config, queue: str, priority: str, start: datetime) -> datetime:
    """When the first answer to a ticket of `queue` opened at `start` is due."""
    hours = queue_calendar(config, queue)
    return hours.add(start, target(config, queue, priority).length(hours))
