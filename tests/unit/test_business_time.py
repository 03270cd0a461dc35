"""Business calendars (SPEC §7.1) with literal instants."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.business_time import CalendarError, calendar

MOSCOW, ROME = ZoneInfo("Europe/Moscow"), ZoneInfo("Europe/Rome")
ROISTAT = calendar("Europe/Moscow", "Mon-Fri 10:00-19:00", "RU")
GOODBARBER = calendar("Europe/Rome", "Mon-Fri 09:00-18:00", "IT")


def at(zone, *parts) -> datetime:
    return datetime(*parts, tzinfo=zone)


def test_friday_evening_plus_one_business_hour_is_monday_morning():
    due = ROISTAT.add(at(MOSCOW, 2026, 11, 20, 18, 30), timedelta(hours=1))      # a Friday
    assert due.astimezone(MOSCOW) == at(MOSCOW, 2026, 11, 23, 10, 30)


def test_a_national_holiday_is_skipped():
    # 4 November, Unity Day, a Wednesday in 2026.
    due = ROISTAT.add(at(MOSCOW, 2026, 11, 3, 18, 30), timedelta(hours=1))
    assert due.astimezone(MOSCOW) == at(MOSCOW, 2026, 11, 5, 10, 30)
    # 8 December, the Immaculate Conception, a Tuesday in 2026.
    due = GOODBARBER.add(at(ROME, 2026, 12, 7, 17, 30), timedelta(hours=1))
    assert due.astimezone(ROME) == at(ROME, 2026, 12, 9, 9, 30)


def test_extra_closed_dates_and_weekends():
    shop = calendar("Europe/Rome", "Mon-Fri 09:00-18:00", closed=("2026-12-24",))
    due = shop.add(at(ROME, 2026, 12, 23, 17, 0), timedelta(hours=2))
    assert due.astimezone(ROME) == at(ROME, 2026, 12, 25, 10, 0)        # no holidays configured: the 25th works


def test_clocks_changing_in_rome_are_real_time():
    every_day = calendar("Europe/Rome", "Mon-Sun 00:00-24:00")
    # 29 March 2026 has 23 hours: 24 business hours from Saturday noon end at 13:00 on Sunday.
    due = every_day.add(at(ROME, 2026, 3, 28, 12, 0), timedelta(hours=24))
    assert due.astimezone(ROME) == at(ROME, 2026, 3, 29, 13, 0)
    assert every_day.elapsed(at(ROME, 2026, 10, 25, 0, 0), at(ROME, 2026, 10, 26, 0, 0)) == timedelta(hours=25)
    # Office hours across the change still last nine hours each day.
    assert GOODBARBER.elapsed(at(ROME, 2026, 3, 27, 9, 0), at(ROME, 2026, 3, 30, 18, 0)) == timedelta(hours=18)


def test_a_round_the_clock_queue_adds_plain_time():
    always = calendar("UTC", "24/7")
    start = at(MOSCOW, 2026, 11, 21, 3, 0)                               # a Saturday night
    assert always.add(start, timedelta(hours=5)) == start + timedelta(hours=5)
    assert always.elapsed(start, start + timedelta(days=2)) == timedelta(days=2)


def test_a_night_shift_belongs_to_the_day_it_starts():
    nights = calendar("Europe/Rome", "Mon-Fri 22:00-06:00")
    due = nights.add(at(ROME, 2026, 11, 20, 5, 0), timedelta(hours=2))    # Friday 05:00, Thursday's shift
    assert due.astimezone(ROME) == at(ROME, 2026, 11, 20, 23, 0)


def test_business_time_between_two_instants_and_the_business_day():
    assert ROISTAT.elapsed(at(MOSCOW, 2026, 11, 20, 18, 50), at(MOSCOW, 2026, 11, 23, 10, 10)) == timedelta(minutes=20)
    assert ROISTAT.elapsed(at(MOSCOW, 2026, 11, 23, 12, 0), at(MOSCOW, 2026, 11, 23, 11, 0)) == timedelta(0)
    assert ROISTAT.day_length == timedelta(hours=9)


@pytest.mark.parametrize("hours", ["Mon-Fri 10-19", "Mon-Xyz 10:00-19:00", "Mon 25:00-26:00"])
def test_unreadable_hours_are_refused(hours):
    with pytest.raises(CalendarError):
        calendar("UTC", hours)


def test_unknown_country_is_refused():
    with pytest.raises(CalendarError, match="XX"):
        calendar("UTC", "Mon-Fri 09:00-18:00", "XX")
