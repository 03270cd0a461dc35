"""Events become outbox rows in the transaction of the change that caused
them (SPEC §6.4): read the facts a notice needs, let `plan` decide, write one
row per recipient with its signed Message-ID and Reply-To token. Rendering
waits for the sender, so a broken template never holds up incoming mail."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from mailgate.config import Config
from mailgate.directory import is_address
from mailgate.domain import Event
from mailgate.mail.tokens import Signer
from mailgate.notify.kinds import KINDS
from mailgate.notify.plan import MailFacts, Notice, Person, TicketFacts, plan
from mailgate.notify.render import Templates
from storage import events, outbox, tickets

log = logging.getLogger("mailgate.notify")


class Notifier:
    def __init__(self, config: Config, signer: Signer, templates: Templates):
        self.config = config
        self.signer = signer
        self.templates = templates

    def record(self, session: so.Session, event: Event, mail: MailFacts | None, now: datetime) -> None:
        """Keep `event` in the ticket's history and queue its mails. A notice to
        a customer who takes part in the ticket carries a signed link to it."""
        data = dict(event.data)
        if event.ticket is not None and event.link_contact is not None and self.config.site.portal_url:
            data["link"] = self.signer.link(self.config.site.portal_url, event.ticket, event.link_contact,
                                            now, self.config.conversation.link_days)
        event = replace(event, data=data)
        try:
            status = events.QUEUED if self.enqueue(session, event, mail, now) else events.NO_RECIPIENT
        except sa.exc.SQLAlchemyError:
            raise                           # the caller's transaction decides
        except Exception as exc:            # noqa: BLE001 - a notice must never cost the mail itself
            log.error("%s for ticket %s not queued: %s: %s", event.kind, event.ticket,
                      type(exc).__name__, exc)
            status = events.NOT_QUEUED
        events.add(session, kind=event.kind, audience=event.audience, recipient=event.recipient,
                   ticket=event.ticket, automatic=event.automatic, data=data, now=now, status=status)

    def enqueue(self, session: so.Session, event: Event, mail: MailFacts | None, now: datetime) -> int:
        """Write the outbox rows of `event`; returns how many."""
        ticket = event.ticket
        facts = self._ticket(session, ticket) if ticket is not None else None
        recipients = self._recipients(session, event, facts, now)
        agent = self._agent(session, event.data["agent"]) if "agent" in event.data else None
        notices = plan(self.config, event, facts, recipients, mail, now,
                       self.templates.template_language, agent)
        for notice in notices:
            self._write(session, notice, now)
        return len(notices)

    def _ticket(self, session: so.Session, number: int) -> TicketFacts | None:
        row, first = tickets.notice_ticket(session, number)
        if row is None:
            return None
        requester = Person(row.address, row.name) if row.address else None
        return TicketFacts(row.id, row.subject, row.status, row.priority, row.queue, row.language,
                           row.assignee, (first,) if first else (), requester)

    def _recipients(self, session: so.Session, event: Event, ticket: TicketFacts | None,
                    now: datetime) -> list[Person]:
        if KINDS[event.kind].audience == "customer":
            return [self._person(session, event.recipient)] if event.recipient else []
        if event.recipient:                 # an answer to one agent (command_error)
            addresses = [event.recipient]
        elif ticket is None:
            return []
        elif event.kind in ("customer_reply", "sla_warning") and ticket.assignee:
            addresses = [ticket.assignee]      # an assigned ticket is its assignee's alone
        else:
            # Agents of the ticket's queue, and its assignee wherever they are.
            queue = self.config.queue(ticket.queue)
            agents = [a for a in self.config.agents if not a.queues or ticket.queue in a.queues]
            addresses = [a.address for a in agents]
            if event.kind == "sla_breach":     # SPEC §7.2: escalation, else the queue's supervisors
                addresses = list(queue.escalation if queue else ()) or \
                    [a.address for a in agents if a.role == "supervisor"] or addresses
            if ticket.assignee:
                addresses.append(ticket.assignee)
        people = []
        for address in dict.fromkeys(addresses):
            person = self._person(session, address)          # with their language and zone
            if person.contact is None:                       # first notice: the token needs a contact
                agent = next((a for a in self.config.agents if a.address == address), None)
                person = replace(person, name=agent.name if agent else "",
                                 contact=tickets.contact_id(session, address, agent.name if agent else "", now))
            people.append(person)
        return people

    def _agent(self, session: so.Session, address: str) -> Person:
        """An agent, named as the config names them."""
        person = self._person(session, address)
        configured = next((a for a in self.config.agents if a.address == address), None)
        return replace(person, name=configured.name) if configured else person

    def _person(self, session: so.Session, address: str) -> Person:
        row = tickets.person(session, address)
        if row is None:
            return Person(address)
        return Person(row.address, row.name, row.id, row.language, row.timezone)

    def _write(self, session: so.Session, notice: Notice, now: datetime) -> None:
        address = notice.to.address
        if not is_address(address) or any(c.isspace() or ord(c) < 32 for c in address):
            log.warning("%s for ticket %s not queued: %r is not a mail address", notice.kind,
                        notice.ticket, address)
            return
        context = {"vars": dict(notice.context), "mail": {
            "to_name": notice.to.name, "from_name": notice.from_name, "from_addr": notice.from_addr,
            "auto_submitted": notice.auto_submitted, "in_reply_to": notice.in_reply_to,
            "references": list(notice.references), "zone": notice.zone,
            "attachments": [dict(a) for a in notice.attachments]}}
        ticket = notice.context.get("ticket") or {}

        def sign(entry: int) -> tuple[str, str | None]:
            message_id = self.signer.message_id(notice.ticket or 0, entry, self.config.site.domain)
            reply_to = None
            if notice.reply_role is not None and notice.ticket is not None:
                local, _, domain = notice.from_addr.partition("@")
                token = self.signer.reply_token(notice.ticket, *notice.reply_role)
                reply_to = f"{local}+{token}@{domain}"
            return message_id, reply_to

        outbox.add_signed(session, {
            "ticket_id": notice.ticket, "event": notice.kind, "to_addr": address,
            "subject": (ticket.get("subject") or "")[:500], "language": notice.language,
            "status": outbox.QUEUED, "attempts": 0, "next_attempt_at": now, "created_at": now,
            "context": context}, sign)


def mail_facts(parsed, author: str, text: str | None = None) -> MailFacts:
    """MailFacts of a parsed inbound mail written by `author`."""
    # "-0000" says the sender's zone is unknown (RFC 5322 §3.3), not that it is UTC.
    unknown = any(value.strip().endswith("-0000") for value in parsed.headers.get("date", ()))
    offset = parsed.date.utcoffset() if parsed.date and not unknown else None
    content_language = _content_language(parsed.headers.get("content-language", ()))
    return MailFacts(message_id=parsed.message_id, author=Person(author, parsed.from_name),
                     language=parsed.language,
                     content_language=content_language,
                     utc_offset=int(offset.total_seconds() // 60) if offset is not None else None,
                     text=text if text is not None else (parsed.visible_text or parsed.text or ""))


def _content_language(values) -> str | None:
    """"de-DE, en" -> "de" (RFC 3282: the first tag; its primary subtag)."""
    for value in values:
        tag = value.split(",")[0].strip().split("-")[0].lower()
        if tag.isalpha() and 2 <= len(tag) <= 3:
            return tag
    return None

