"""Queues, agents and organisations: the [[queues]], [[agents]] and
[[organisations]] tables of the config, validated into frozen dataclasses."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, fields, replace
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any

from mailgate.errors import ConfigError

PRIORITIES = ("low", "medium", "high")
CLOSED_POLICIES = ("reject", "reopen", "new_ticket")
ROLES = ("agent", "supervisor")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
_CATEGORY = re.compile(r"[\w.-]{1,64}(/[\w.-]{1,64})?")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{1,63}")


@dataclass(frozen=True)
class QueueConfig:
    name: str
    addresses: tuple[str, ...]
    language: str = ""
    priority: str = "medium"
    closed_policy: str = "reject"      # what a reply to a closed ticket does (SPEC §4.2)
    timezone: str = ""                 # of its team; empty: notify.timezone
    categories: tuple[str, ...] = ()   # "category" or "category/subcategory"
    hours: str = "24/7"                # business hours, e.g. "Mon-Fri 10:00-19:00"
    holidays: str = ""                 # country code whose national holidays are closed days
    closed_dates: tuple[str, ...] = () # extra closed days, YYYY-MM-DD
    # Response targets by priority, overriding [sla]: (("high", "30m"), ...)
    first_response: tuple[tuple[str, str], ...] = ()
    next_response: tuple[tuple[str, str], ...] = ()
    escalation: tuple[str, ...] = ()   # who hears of a breached target (SPEC §7.2)


@dataclass(frozen=True)
class AgentConfig:
    name: str
    address: str
    queues: tuple[str, ...] = ()       # empty: every queue
    role: str = "agent"


@dataclass(frozen=True)
class OrganisationConfig:
    name: str
    domains: tuple[str, ...]
    share_tickets: bool = False        # colleagues may answer each other's tickets


def is_address(value: str) -> bool:
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError):
        return False
    return bool(parsed.username and parsed.domain and ("." in parsed.domain or parsed.domain == "localhost"))


def is_language(value: str) -> bool:
    return bool(_LANGUAGE.fullmatch(value))


def is_timezone(value: str) -> bool:
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def build_queues(raw: Any, domain: str) -> tuple[QueueConfig, ...]:
    if raw is None:
        raw = [{"name": "support", "addresses": [f"support@{domain}"]}]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("queues: expected at least one [[queues]] table")
    queues = tables("queues", raw, QueueConfig, _check_queue)
    return tuple(queues)


def build_agents(raw: Any, queues: tuple[QueueConfig, ...]) -> tuple[AgentConfig, ...]:
    names = {queue.name for queue in queues}

    def check(where: str, agent: AgentConfig) -> AgentConfig:
        if not is_address(agent.address):
            raise ConfigError(f"{where}.address: not a mail address: {agent.address!r}")
        unknown = [q for q in agent.queues if q not in names]
        if unknown:
            raise ConfigError(f"{where}.queues: no queue named {unknown[0]!r}")
        if agent.role not in ROLES:
            raise ConfigError(f"{where}.role: expected one of {', '.join(ROLES)}")
        return AgentConfig(agent.name, agent.address.lower(), agent.queues, agent.role)

    return tuple(tables("agents", raw or [], AgentConfig, check))


def build_organisations(raw: Any) -> tuple[OrganisationConfig, ...]:
    def check(where: str, organisation: OrganisationConfig) -> OrganisationConfig:
        domains = tuple(d.lower().lstrip("@") for d in organisation.domains)
        bad = [d for d in domains if not _DOMAIN.fullmatch(d)]
        if not domains or bad:
            raise ConfigError(f"{where}.domains: not a mail domain: {(bad or [''])[0]!r}")
        return OrganisationConfig(organisation.name, domains, organisation.share_tickets)

    return tuple(tables("organisations", raw or [], OrganisationConfig, check))


def _check_queue(where: str, queue: QueueConfig) -> QueueConfig:
    if not _NAME.fullmatch(queue.name):
        raise ConfigError(f"{where}.name: expected up to 64 letters, digits, '-', '_' or '.'")
    if not queue.addresses:
        raise ConfigError(f"{where}.addresses: expected a list of mail addresses")
    for address in queue.addresses:
        if not is_address(address) or "+" in address.partition("@")[0]:
            raise ConfigError(f"{where}.addresses: not a plain mail address: {address!r}")
    if queue.language and not _LANGUAGE.fullmatch(queue.language):
        raise ConfigError(f"{where}.language: expected a language code such as 'it' or 'pt_BR'")
    if queue.timezone and not is_timezone(queue.timezone):
        raise ConfigError(f"{where}.timezone: not a time zone name such as Europe/Rome: {queue.timezone!r}")
    bad = [c for c in queue.categories if not _CATEGORY.fullmatch(c)]
    if bad:
        raise ConfigError(f"{where}.categories: expected \"category\" or \"category/subcategory\", got {bad[0]!r}")
    if queue.priority not in PRIORITIES:
        raise ConfigError(f"{where}.priority: expected one of {', '.join(PRIORITIES)}")
    if queue.closed_policy not in CLOSED_POLICIES:
        raise ConfigError(f"{where}.closed_policy: expected one of {', '.join(CLOSED_POLICIES)}")
    from scheduler.business_time import CalendarError, calendar
    from scheduler.sla import parse_target
    try:
        calendar(queue.timezone or "UTC", queue.hours, queue.holidays, queue.closed_dates)
    except CalendarError as exc:
        raise ConfigError(f"{where}.hours: {exc}") from None
    for key in ("first_response", "next_response"):
        for priority, text in getattr(queue, key):
            if priority not in PRIORITIES:
                raise ConfigError(f"{where}.{key}.{priority}: expected one of {', '.join(PRIORITIES)}")
            try:
                parse_target(text)
            except ValueError as exc:
                raise ConfigError(f"{where}.{key}.{priority}: {exc}") from None
    for address in queue.escalation:
        if not is_address(address):
            raise ConfigError(f"{where}.escalation: not a mail address: {address!r}")
    return replace(queue, addresses=tuple(a.lower() for a in queue.addresses), holidays=queue.holidays.upper(),
                   escalation=tuple(a.lower() for a in queue.escalation))


def tables(section: str, raw: Any, cls: type, check) -> list:
    """Each table of an array of tables, typed by `cls`'s fields, then checked."""
    if not isinstance(raw, list):
        raise ConfigError(f"{section}: expected [[{section}]] tables")
    specs = {spec.name: spec for spec in fields(cls)}
    built, names = [], set()
    for index, table in enumerate(raw):
        where = f"{section}[{index}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table")
        for key in table:
            if key not in specs:
                raise ConfigError(f"{where}.{key}: unknown key")
        values = {key: _typed(f"{where}.{key}", table[key], specs[key].type) for key in table}
        missing = [key for key, spec in specs.items() if key not in values
                   and spec.default is spec.default_factory]         # no default at all
        if missing:
            raise ConfigError(f"{where}.{missing[0]}: missing")
        item = check(where, cls(**values))
        if item.name in names:
            raise ConfigError(f"{where}.name: duplicate name {item.name!r}")
        names.add(item.name)
        built.append(item)
    return built


def _typed(where: str, value: Any, type_name: str) -> Any:
    if type_name == "tuple[tuple[str, str], ...]":         # an inline table of strings
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: expected a table such as {{ high = \"30m\", low = \"1d\" }}")
        return tuple(value.items())
    if type_name == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        return tuple(value)
    expected = {"str": str, "bool": bool, "int": int}[type_name]
    if not isinstance(value, expected) or expected is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {'true or false' if expected is bool else 'a ' + type_name}")
    return value


def agent_names(agents: tuple[AgentConfig, ...]) -> dict[str, str]:
    """What `#assign` accepts for each agent: the address, the full name and
    the first name (when no two agents share it), lowercased -> address."""
    names: dict[str, str] = {}
    first_names: dict[str, list[str]] = {}
    for agent in agents:
        names[agent.address] = agent.address
        names[agent.name.lower()] = agent.address
        first_names.setdefault(agent.name.split()[0].lower() if agent.name.split() else "", []).append(agent.address)
    for first, addresses in first_names.items():
        if first and len(addresses) == 1:
            names.setdefault(first, addresses[0])
    return names


def category_names(queue: QueueConfig) -> frozenset[str]:
    """"billing/invoices" offers "billing/invoices" and "billing"."""
    return frozenset(queue.categories) | {c.partition("/")[0] for c in queue.categories}
