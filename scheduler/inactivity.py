"""Inactivity closure (SPEC §7.3), pure: a ticket waiting on its customer
(`pending`) for `close_days` without an answer is closed, with a reminder
after `remind_days`; a `solved` ticket closes after the same time without
one. Days are calendar days, or the queue's business days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.business_time import Calendar

REMIND, CLOSE = "remind", "close"


@dataclass(frozen=True)
class Policy:
    close_days: int = 2
    remind_days: int = 1
    business_days: bool = False


def after(policy: Policy, calendar: Calendar, since: datetime, days: int) -> datetime:
    """`days` calendar days, or business days of `calendar`, after `since`."""
    if not policy.business_days:
        return since + timedelta(days=days)
    return calendar.add(since, calendar.day_length * days)


def due_action(policy: Policy, calendar: Calendar, status: str, waiting_since: datetime,
               reminded_at: datetime | None, now: datetime) -> tuple[str, datetime] | None:
    """(action, deadline) that is due at `now`, or None. The deadline is
    when the ticket closes (a reminder states it)."""
    deadline = after(policy, calendar, waiting_since, policy.close_days)
    if now >= deadline:
        return CLOSE, deadline
    if status == "pending" and reminded_at is None and 0 < policy.remind_days < policy.close_days and \
            now >= after(policy, calendar, waiting_since, policy.remind_days):
        return REMIND, deadline
    return None
