"""Inactivity closure (SPEC §7.3) with literal instants."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from scheduler.business_time import calendar
from scheduler.inactivity import CLOSE, REMIND, Policy, due_action

ALWAYS = calendar("UTC", "24/7")
OFFICE = calendar("Europe/Rome", "Mon-Fri 09:00-18:00")
SINCE = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)          # Friday 17:00 in Rome


def test_a_pending_ticket_is_reminded_after_a_day_and_closed_after_two():
    policy = Policy()
    assert due_action(policy, ALWAYS, "pending", SINCE, None, SINCE + timedelta(hours=23)) is None
    assert due_action(policy, ALWAYS, "pending", SINCE, None, SINCE + timedelta(days=1)) == (
        REMIND, SINCE + timedelta(days=2))
    assert due_action(policy, ALWAYS, "pending", SINCE, SINCE + timedelta(days=1), SINCE + timedelta(days=1, hours=5)) is None
    assert due_action(policy, ALWAYS, "pending", SINCE, SINCE + timedelta(days=1), SINCE + timedelta(days=2)) == (
        CLOSE, SINCE + timedelta(days=2))


def test_a_solved_ticket_closes_without_a_reminder():
    assert due_action(Policy(), ALWAYS, "solved", SINCE, None, SINCE + timedelta(days=1, hours=12)) is None
    assert due_action(Policy(), ALWAYS, "solved", SINCE, None, SINCE + timedelta(days=2))[0] == CLOSE


def test_business_days_skip_the_weekend():
    policy = Policy(business_days=True)
    monday_evening = datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc)      # 17:00 Monday in Rome
    assert due_action(policy, OFFICE, "pending", SINCE, None, monday_evening - timedelta(minutes=1)) is None
    assert due_action(policy, OFFICE, "pending", SINCE, None, monday_evening) == (
        REMIND, datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc))
