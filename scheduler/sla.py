"""Response targets (SPEC §7.2): when the first answer to a ticket is due,
counted in the business time of its queue's calendar. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from mailgate.config import Config
from scheduler.business_time import Calendar, calendar


def first_response_target(config: Config, priority: str) -> timedelta:
    """The business time the first answer may take, by priority."""
    hours = {"high": config.sla.first_response_high, "medium": config.sla.first_response_medium,
             "low": config.sla.first_response_low}.get(priority, config.sla.first_response_medium)
    return timedelta(hours=hours)


def queue_calendar(config: Config, queue: str) -> Calendar:
    settings = config.queue(queue) or config.queues[0]
    return _calendar(settings.timezone or config.notify.timezone, settings.hours, settings.holidays,
                     settings.closed_dates)


@lru_cache(maxsize=64)
def _calendar(zone: str, hours: str, country: str, closed: tuple[str, ...]) -> Calendar:
    return calendar(zone, hours, country, closed)


def first_response_due(config: Config, queue: str, priority: str, start: datetime) -> datetime:
    """When the first answer to a ticket of `queue` opened at `start` is due."""
    return queue_calendar(config, queue).add(start, first_response_target(config, priority))
