"""From an event to the notifications it sends (SPEC §6): who gets one, in
which language and time zone, from which address, with which Reply-To and
template variables. Pure: the adapter reads the facts and writes the rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from mailgate.config import Config
from mailgate.domain import Event
from mailgate.notify.kinds import KINDS
from scheduler.sla import first_response_due, target


@dataclass(frozen=True)
class Person:
    address: str
    name: str = ""
    contact: int | None = None          # contacts row; an agent's own row signs agent tokens
    language: str | None = None         # preference an admin set
    timezone: str | None = None         # preference an admin set


@dataclass(frozen=True)
class TicketFacts:
    number: int
    subject: str
    status: str
    priority: str
    queue: str
    language: str | None = None         # detected from the customer's latest text
    assignee: str | None = None
    thread: tuple[str, ...] = ()        # Message-IDs of the ticket's first mail and the latest
    requester: Person | None = None


@dataclass(frozen=True)
class MailFacts:
    """What the mail that caused the event says about its author."""

    message_id: str | None = None
    author: Person | None = None
    language: str | None = None         # detected from the visible text
    content_language: str | None = None
    utc_offset: int | None = None       # minutes east of UTC, from its Date header
    text: str = ""                      # the visible text, for agents


@dataclass(frozen=True)
class Notice:
    """One outbox row: a mail to one recipient."""

    kind: str
    ticket: int | None
    to: Person
    language: str
    zone: str                           # IANA name or "+HH:MM"
    from_name: str
    from_addr: str
    reply_role: tuple[str, int] | None  # ("c", contact) or ("a", agent contact) for the token
    auto_submitted: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    context: Mapping[str, Any] = field(default_factory=dict)
    attachments: tuple[Mapping[str, str], ...] = ()     # {"filename", "content_type", "sha256"}


def customer_language(config: Config, person: Person, ticket: TicketFacts | None,
                      mail: MailFacts | None) -> str:
    """SPEC §6.3: the contact's preference, the queue's language, the language
    of the customer's latest text, Content-Language, the default."""
    queue = config.queue(ticket.queue) if ticket else None
    detected = mail.language if mail and mail.language else ticket.language if ticket else None
    return (person.language or (queue.language if queue else None) or detected
            or (mail.content_language if mail else None) or config.notify.default_language)


def zone_for(config: Config, person: Person, queue_name: str | None, mail: MailFacts | None,
             now: datetime) -> str:
    """The recipient's time zone: their preference; else the offset of their
    own Date header, named by the team's zone when the two agree; else the team's."""
    queue = config.queue(queue_name) if queue_name else None
    team = (queue.timezone if queue else "") or config.notify.timezone
    if person.timezone:
        return person.timezone
    if mail is None or mail.utc_offset is None:
        return team
    team_offset = now.astimezone(ZoneInfo(team)).utcoffset()
    if team_offset is not None and int(team_offset.total_seconds() // 60) == mail.utc_offset:
        return team
    sign, minutes = ("+" if mail.utc_offset >= 0 else "-"), abs(mail.utc_offset)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def plan(config: Config, event: Event, ticket: TicketFacts | None, recipients: list[Person],
         mail: MailFacts | None, now: datetime, template_language: Callable[[str], str],
         agent: Person | None = None) -> list[Notice]:
    """The notices of one event, one per recipient."""
    kind = KINDS[event.kind]
    queue_name = ticket.queue if ticket else event.data.get("queue") or config.queues[0].name
    queue = config.queue(queue_name) or config.queues[0]
    support = queue.addresses[0]
    from_name, from_addr = {
        "support": (config.site.name, support),
        "noreply": (config.site.name, config.site.noreply_address),
        "agent": (f"{agent.name if agent else ''} via {config.site.name}", support),
    }[kind.sender]
    notices = []
    for person in recipients:
        if kind.audience == "customer":
            wanted = customer_language(config, person, ticket, mail)
            zone = zone_for(config, person, queue_name, mail, now)
            role = ("c", person.contact) if person.contact is not None else None
        else:
            wanted = person.language or queue.language or config.notify.default_language
            zone = person.timezone or queue.timezone or config.notify.timezone
            role = ("a", person.contact) if person.contact is not None else None
        language = template_language(wanted)
        context = _context(config, event, ticket, person, support, mail, now, agent)
        in_reply_to = mail.message_id if mail and mail.message_id else (
            ticket.thread[-1] if ticket and ticket.thread else None)
        notices.append(Notice(
            kind=event.kind, ticket=ticket.number if ticket else None, to=person, language=language,
            zone=zone, from_name=from_name, from_addr=from_addr,
            reply_role=role if kind.sender != "noreply" else None,
            auto_submitted=kind.auto_submitted, in_reply_to=in_reply_to,
            references=ticket.thread if ticket else (), context=context,
            attachments=tuple(event.data.get("attachments", ()))))
    return notices


def _customer(ticket: TicketFacts | None, mail: MailFacts | None) -> dict:
    """Whom an agent's notice is about: the author of the mail, else the requester."""
    person = (mail.author if mail else None) or (ticket.requester if ticket else None)
    return {"name": person.name, "address": person.address} if person else {"name": "", "address": ""}


def _context(config: Config, event: Event, ticket: TicketFacts | None, person: Person,
             support: str, mail: MailFacts | None, now: datetime, agent: Person | None) -> dict:
    """The template variables (documented in README, "Templates")."""
    data = event.data
    kind = KINDS[event.kind]
    link = data.get("link", "")
    if kind.audience == "agents" and ticket and config.site.portal_url:
        link = f"{config.site.portal_url}/t/{ticket.number}"
    context: dict[str, Any] = {
        "site": {"name": config.site.name, "url": config.site.portal_url, "address": support},
        "recipient": {"name": person.name, "address": person.address},
        "ticket": None if ticket is None else {
            "number": ticket.number, "subject": ticket.subject, "status": ticket.status,
            "priority": ticket.priority, "queue": ticket.queue, "link": link,
            "tag": config.site.subject_tag.replace("{number}", str(ticket.number))},
    }
    values = {
        "reason": data.get("reason", ""), "new_request": bool(data.get("new_request")),
        "address": data.get("address", ""), "status": data.get("status", ""),
        "error": data.get("error", ""), "commands": list(data.get("commands", ())),
        "percent": data.get("percent", 0), "deadline": data.get("deadline", ""),
        "text": data.get("text", mail.text if mail else ""),
        "customer": _customer(ticket, mail),
        "agent": {"name": agent.name if agent else ""},
    }
    if event.kind == "ticket_received" and ticket is not None:
        due = first_response_due(config, ticket.queue, ticket.priority, now)
        shown = target(config, ticket.queue, ticket.priority).shown   # "1 day" is one business day
        values["due"], values["response_time"] = due.isoformat(), int(shown.total_seconds())
    else:
        values["due"] = data.get("due", "")
    context.update({name: values[name] for name in kind.variables})
    return context
