"""Business calendars (SPEC §7.1): a queue's working days and hours in its
time zone, minus national holidays (the `holidays` package, by country
code) and extra closed dates. Add business time to an instant; measure the
business time between two instants. Pure: instants are passed in.

Hours may span midnight ("22:00-06:00": the shift belongs to the day it
starts on). Durations are real elapsed time, so a working day on which the
clocks change lasts what it lasts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^(\w{3})(?:-(\w{3}))?\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_SEARCH_DAYS = 3700              # a calendar open less than once in ten years is a mistake


class CalendarError(ValueError):
    """A business-hours text that cannot be read."""


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    days: frozenset[int] = frozenset(range(7))      # 0 = Monday
    opens: time = time(0)
    closes: time = time(0)                          # opens == closes: the whole day
    country: str = ""                               # national holidays of this country
    closed: frozenset[date] = frozenset()
    always: bool = False                            # 24/7: no closed time at all
    _holidays: object = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.country and self._holidays is None:
            object.__setattr__(self, "_holidays", holiday_calendars.country_holidays(self.country))

    # -- days and shifts ----------------------------------------------------------

    def works_on(self, day: date) -> bool:
        if day.weekday() not in self.days or day in self.closed:
            return False
        return not (self._holidays is not None and day in self._holidays)

    def shift(self, day: date) -> tuple[datetime, datetime]:
        """The working interval that starts on local `day`, as UTC instants."""
        start = datetime.combine(day, self.opens, tzinfo=self.zone)
        end_day = day if self.closes > self.opens else day + timedelta(days=1)
        end = datetime.combine(end_day, self.closes, tzinfo=self.zone)
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)

    def shifts_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals that end after `instant`, in order."""
        day = instant.astimezone(self.zone).date() - timedelta(days=1)   # a shift from yesterday may run on
        for _ in range(_SEARCH_DAYS):
            if self.works_on(day):
                start, end = self.shift(day)
                if end > instant:
                    yield start, end
            day += timedelta(days=1)
        raise CalendarError("no working time in the next ten years")

    @property
    def day_length(self) -> timedelta:
        """One business day: the length of one working day (SPEC §7.1)."""
        if self.always:
            return timedelta(days=1)
        start, end = self.shift(date(2026, 1, 5))                 # a Monday without a DST change
        return end - start

    # -- arithmetic ------------------------------------------------------------------

    def add(self, instant: datetime, duration: timedelta) -> datetime:
        """The instant `duration` of business time after `instant`."""
        instant = instant.astimezone(timezone.utc)
        if self.always or duration <= timedelta(0):
            return instant + max(duration, timedelta(0))
        left = duration
        for start, end in self.shifts_from(instant):
            begin = max(start, instant)
            if begin + left <= end:
                return begin + left
            left -= end - begin
        raise CalendarError("unreachable")          # shifts_from raises first

    def elapsed(self, since: datetime, until: datetime) -> timedelta:
        """Business time between two instants (zero if `until` is not later)."""
        since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
        if until <= since:
            return timedelta(0)
        if self.always:
            return until - since
        total = timedelta(0)
        for start, end in self.shifts_from(since):
            if start >= until:
                break
            total += min(end, until) - max(start, since)
        return total


def parse_hours(text: str) -> tuple[frozenset[int], time, time, bool]:
    """"Mon-Fri 10:00-19:00" -> (days, opens, closes, always); "24/7" -> always."""
    text = " ".join(text.strip().lower().split())
    if text in ("24/7", ""):
        return frozenset(range(7)), time(0), time(0), True
    match = _SPEC.match(text)
    if not match or match.group(1) not in DAYS or (match.group(2) and match.group(2) not in DAYS):
        raise CalendarError(f'expected "Mon-Fri 09:00-18:00" or "24/7", got {text!r}')
    first = DAYS.index(match.group(1))
    last = DAYS.index(match.group(2)) if match.group(2) else first
    days = frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))
    hours = [int(match.group(g)) for g in (3, 4, 5, 6)]
    if hours[0] > 24 or hours[2] > 24 or hours[1] > 59 or hours[3] > 59:
        raise CalendarError(f"not a time of day in {text!r}")
    opens, closes = (time(h % 24, m) for h, m in ((hours[0], hours[1]), (hours[2], hours[3])))
    return days, opens, closes, False


def calendar(zone: str, hours: str = "24/7", country: str = "", closed: tuple[str, ...] = ()) -> Calendar:
    """A Calendar from config values (checked: bad input raises CalendarError)."""
    days, opens, closes, always = parse_hours(hours)
    if country and country.upper() not in holiday_calendars.list_supported_countries():
        raise CalendarError(f"no national holidays known for country code {country!r}")
    try:
        dates = frozenset(date.fromisoformat(d) for d in closed)
    except ValueError:
        raise CalendarError(f"closed dates must be YYYY-MM-DD, got {list(closed)!r}") from None
    return Calendar(ZoneInfo(zone), days, opens, closes, country.upper(), dates, always)
