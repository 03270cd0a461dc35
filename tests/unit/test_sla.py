"""Response targets (SPEC §7.2): the clock's rules with literal instants,
on Roistat's calendar (Mon-Fri 10:00-19:00 Moscow, Russian holidays)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailgate.config import build_config
from scheduler.business_time import calendar
from scheduler.sla import (BREACH, CREATED, CUSTOMER, FIRST, NEXT, RESPONSE, WARNING, Clock, Target, advance,
                           notice_due, parse_target, schedule, target)
from tests.conftest import config_document

MOSCOW = ZoneInfo("Europe/Moscow")
ROISTAT = calendar("Europe/Moscow", "Mon-Fri 10:00-19:00", "RU")
HOUR = timedelta(hours=1)
LENGTHS = {FIRST: HOUR, NEXT: 4 * HOUR}


def msk(*parts) -> datetime:
    return datetime(2026, 11, *parts, tzinfo=MOSCOW)


def times_of(clock: Clock, length=HOUR, percent=80):
    return schedule(clock, ROISTAT, length, percent)


@pytest.mark.parametrize("text, expected", [
    ("1h", Target(0, HOUR)), ("30m", Target(0, timedelta(minutes=30))), ("1d", Target(1)),
    ("1d 4h", Target(1, 4 * HOUR)), (" 2H30M ", Target(0, timedelta(hours=2, minutes=30))),
])
def test_response_times_are_read_in_days_hours_and_minutes(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", "1", "0h", "1w", "h", "-1h", "1.5h"])
def test_a_response_time_that_cannot_be_read_is_refused(text):
    with pytest.raises(ValueError):
        parse_target(text)


def test_one_business_day_is_one_working_day_of_the_queue():
    assert Target(1).length(ROISTAT) == 9 * HOUR                   # 10:00-19:00
    assert Target(1, HOUR).length(calendar("UTC", "24/7")) == 25 * HOUR
    assert Target(1).shown == timedelta(days=1)                    # the customer reads "1 day"


def test_high_priority_mail_at_1850_friday_warns_and_breaches_on_monday_morning():
    clock, steps = advance(Clock(), "new", CREATED, msk(20, 18, 50), ROISTAT, LENGTHS)
    assert [(s.what, s.target) for s in steps] == [("started", FIRST)]
    times = times_of(clock)
    # 10 minutes on Friday, the rest from Monday 10:00: 80 % (48 min) at 10:38, due at 10:50.
    assert times.next_at == msk(23, 10, 38) and times.due == msk(23, 10, 50)
    assert notice_due(clock, times, msk(23, 10, 37)) is None
    assert notice_due(clock, times, msk(23, 10, 38)) == WARNING
    warned = Clock(clock.target, clock.since, clock.used, WARNING)
    assert times_of(warned).next_at == msk(23, 10, 50)
    assert notice_due(warned, times_of(warned), msk(23, 10, 49)) is None
    assert notice_due(warned, times_of(warned), msk(23, 10, 50)) == BREACH
    breached = Clock(clock.target, clock.since, clock.used, BREACH)
    assert times_of(breached).next_at is None                      # nothing more to send


def test_a_sweep_that_comes_late_sends_the_breach_without_the_warning():
    clock, _ = advance(Clock(), "new", CREATED, msk(20, 18, 50), ROISTAT, LENGTHS)
    assert notice_due(clock, times_of(clock), msk(23, 12, 0)) == BREACH


def test_the_agents_answer_meets_the_target_and_stops_the_clock():
    clock, _ = advance(Clock(), "new", CREATED, msk(23, 10, 0), ROISTAT, LENGTHS)
    clock, steps = advance(clock, "pending", RESPONSE, msk(23, 10, 40), ROISTAT, LENGTHS)
    assert clock == Clock() and times_of(clock).due is None
    [met] = steps
    assert (met.what, met.target, met.used, met.late) == ("met", FIRST, 40 * 60, False)


def test_an_answer_after_the_due_time_is_met_late():
    clock, _ = advance(Clock(), "new", CREATED, msk(20, 18, 50), ROISTAT, LENGTHS)
    _, [met] = advance(clock, "pending", RESPONSE, msk(23, 11, 0), ROISTAT, LENGTHS)
    assert met.late and met.used == 70 * 60                        # 10 min Friday + 60 min Monday


def test_the_customers_next_mail_starts_the_next_response_target():
    clock, _ = advance(Clock(), "new", CREATED, msk(23, 10, 0), ROISTAT, LENGTHS)
    clock, _ = advance(clock, "pending", RESPONSE, msk(23, 10, 30), ROISTAT, LENGTHS)
    clock, steps = advance(clock, "open", CUSTOMER, msk(23, 17, 0), ROISTAT, LENGTHS)
    assert [(s.what, s.target) for s in steps] == [("started", NEXT)]
    assert schedule(clock, ROISTAT, LENGTHS[NEXT], 80).due == msk(24, 12, 0)    # 2 h Monday, 2 h Tuesday


def test_a_customers_second_mail_before_the_answer_keeps_the_earlier_due_time():
    clock, _ = advance(Clock(), "new", CREATED, msk(23, 10, 0), ROISTAT, LENGTHS)
    again, steps = advance(clock, "new", CUSTOMER, msk(23, 10, 30), ROISTAT, LENGTHS)
    assert again == clock and steps == []


def test_waiting_on_the_customer_without_an_answer_pauses_and_resumes_with_the_time_left():
    clock, _ = advance(Clock(), "new", CREATED, msk(23, 10, 0), ROISTAT, LENGTHS)
    clock, [paused] = advance(clock, "pending", None, msk(23, 10, 20), ROISTAT, LENGTHS)
    assert (paused.what, paused.used) == ("paused", 20 * 60) and times_of(clock).due is None
    clock, [resumed] = advance(clock, "open", CUSTOMER, msk(23, 15, 0), ROISTAT, LENGTHS)
    assert resumed.what == "resumed"
    assert times_of(clock).due == msk(23, 15, 40)                  # 40 minutes were left


def test_closing_a_ticket_stops_its_clock_for_good():
    clock, _ = advance(Clock(), "new", CREATED, msk(23, 10, 0), ROISTAT, LENGTHS)
    clock, [stopped] = advance(clock, "closed", None, msk(23, 10, 5), ROISTAT, LENGTHS)
    assert (stopped.what, clock) == ("stopped", Clock())


def test_a_higher_priority_brings_the_due_time_forward():
    clock, _ = advance(Clock(), "new", CREATED, msk(23, 10, 0), ROISTAT, LENGTHS)
    assert schedule(clock, ROISTAT, 4 * HOUR, 80).due == msk(23, 14, 0)
    assert schedule(clock, ROISTAT, HOUR, 80).due == msk(23, 11, 0)


def test_a_ticket_opened_by_the_agents_answer_awaits_nothing():
    clock, steps = advance(Clock(), "pending", RESPONSE, msk(23, 10, 0), ROISTAT, LENGTHS)
    assert clock == Clock() and steps == []


def test_targets_come_from_the_queue_then_the_sla_section(tmp_path):
    config = build_config(config_document(
        tmp_path, queues=[{"name": "support", "addresses": ["support@example.com"],
                           "first_response": {"high": "15m"}}],
        sla={"first_response_low": "2d", "next_response_medium": "2h"}))
    assert target(config, "support", "high") == Target(0, timedelta(minutes=15))
    assert target(config, "support", "low") == Target(2)
    assert target(config, "support", "medium", NEXT) == Target(0, 2 * HOUR)
    assert target(config, "support", "medium") == Target(0, 4 * HOUR)           # the default
