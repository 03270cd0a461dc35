"""Response targets (SPEC §7.2). For now the first-response due time is the
configured target in plain hours; the business calendar replaces the body of
`first_response_due`, and every caller keeps working. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailgate.config import Config


def first_response_target(config: Config, priority: str) -> timedelta:
    hours = {"high": config.sla.first_response_high, "medium": config.sla.first_response_medium,
             "low": config.sla.first_response_low}.get(priority, config.sla.first_response_medium)
    return timedelta(hours=hours)


def first_response_due(config: Config, queue: str, priority: str, start: datetime) -> datetime:
    """When the first answer to a ticket of `queue` opened at `start` is due."""
    return start + first_response_target(config, priority)
