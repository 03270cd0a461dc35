"""Stage 7: write what a decision says, inside the caller's transaction:
the message on its ticket (or held in quarantine with its reason), the new
ticket and its participants, a failed outbox entry and suppressed address
for a bounce, and the events the notifier will send."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy.orm as so

from mailgate.config import Config
from mailgate.domain import (BOUNCE, COMMENT, DUPLICATE, NEW_TICKET, Decision, Outcome, ParsedMail,
                             Prepared)
from mailgate.mail.addresses import OurAddresses
from mailgate.mail.subject import remove_tag, strip_prefixes
from mailgate.mail.tokens import Signer
from mailgate.notify.enqueue import Notifier, mail_facts
from mailgate.participants import first_mail_participants, sender_of
from scheduler import clock
from scheduler.sla import CREATED, CUSTOMER, RESPONSE
from storage import outbox, quarantine, tickets


class Recorder:
    def __init__(self, config: Config, signer: Signer, ours: OurAddresses, notifier: Notifier):
        self.config = config
        self.signer = signer
        self.ours = ours
        self.notifier = notifier

    def record(self, session: so.Session, prepared: Prepared, decision: Decision,
                now: datetime) -> Outcome:
        inbound, parsed = prepared.inbound, prepared.parsed
        message_id = parsed.message_id if parsed else None
        if decision.action in (NEW_TICKET, COMMENT, DUPLICATE) or (
                decision.action == BOUNCE and decision.ticket is not None):
            number, author = self._store_message(session, prepared, decision, now)
            if decision.action in (NEW_TICKET, COMMENT) and decision.visibility != "automatic":
                clock.update(session, self.config, number, now, _answer(decision))
            if inbound.quarantine_id:
                quarantine.release(session, inbound.quarantine_id, ticket_id=number, now=now)
            held = None
        else:
            number, author = decision.ticket, None
            held = self._hold(session, prepared, decision, now)
            if held is None:
                return Outcome(inbound.source, message_id, DUPLICATE, number, "duplicate")
        if decision.bounce_outbox is not None:
            outbox.mark_failed(session, decision.bounce_outbox, f"{decision.reason}: {message_id or ''}")
        if decision.suppress:
            until = now + timedelta(days=self.config.conversation.suppression_days)
            outbox.suppress(session, decision.suppress, decision.reason or "bounce", until, now)
        self._record_events(session, decision, number, author, prepared, held, now)
        return Outcome(inbound.source, message_id, decision.action, number, decision.reason)

    def _record_events(self, session: so.Session, decision: Decision, number: int | None,
                       author: int | None, prepared: Prepared, held: int | None,
                       now: datetime) -> None:
        """The notices this mail causes, and their outbox rows. An event without
        a ticket belongs to the ticket the mail opened, and its link to the requester."""
        parsed = prepared.parsed
        message_id = parsed.message_id if parsed else None
        facts = mail_facts(parsed, sender_of(parsed, prepared.inbound)) if parsed and decision.events else None
        for event in decision.events:
            ticket, contact = event.ticket, event.link_contact
            if ticket is None and decision.action == NEW_TICKET:
                ticket, contact = number, author
                if decision.requester is not None:
                    contact = tickets.find_contact(session, decision.requester)
            data = dict(event.data)
            if message_id:
                data["in_reply_to"] = message_id
            if held is not None:
                data["quarantine_id"] = held
            if decision.queue and ticket is None:
                data["queue"] = decision.queue
            # An agent's mail says nothing of the customer's language, zone or thread.
            by_agent = "participant:agent" in decision.rule_hits and event.audience == "customer"
            self.notifier.record(session, replace(event, ticket=ticket, link_contact=contact, data=data),
                                 None if by_agent else facts, now)

    def _store_message(self, session: so.Session, prepared: Prepared, decision: Decision,
                       now: datetime) -> tuple[int | None, int]:
        inbound, parsed = prepared.inbound, prepared.parsed
        sender = sender_of(parsed, inbound)
        author = tickets.contact_id(session, sender, parsed.from_name, now)
        number = decision.ticket
        if decision.action == NEW_TICKET:
            number = self._open_ticket(session, parsed, sender, author, decision, now)
        elif decision.action == COMMENT:
            agent = "participant:agent" in decision.rule_hits
            if decision.visibility != "automatic":     # an out-of-office changes nothing
                if agent:                               # the agent's own fields, with history
                    tickets.touch_ticket(session, number, now)
                    tickets.change_ticket(session, number, dict(decision.changes, **(
                        {"status": decision.new_status} if decision.new_status else {})), sender, now)
                else:
                    tickets.touch_ticket(session, number, now, decision.new_status)
                if parsed.language and not agent:       # a customer wrote
                    tickets.set_ticket_language(session, number, parsed.language)
            if decision.flags:
                tickets.add_flags(session, number, decision.flags)
            if decision.tags:
                tickets.add_tags(session, number, decision.tags)
            if decision.participants:                   # an agent's Cc take part from now on
                tickets.add_participants(session, number, {
                    tickets.contact_id(session, a, "", now): "cc" for a in decision.participants}, now)
        duplicate = decision.action == DUPLICATE
        row = tickets.add_message(
            session, ticket_id=None if duplicate else number, direction="in",
            visibility=decision.visibility, author_id=author, from_address=sender,
            from_name=parsed.from_name[:200], to_addrs=list(parsed.to), cc_addrs=list(parsed.cc),
            subject=parsed.subject, date=parsed.date, date_offset=_offset_minutes(parsed.date),
            received_at=inbound.received_at, message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
            refs=" ".join(parsed.references) or None, visible_text=parsed.visible_text,
            text="" if duplicate else parsed.text, html=None if duplicate else parsed.html,
            language=parsed.language, raw_sha256=prepared.raw_sha256, size=len(inbound.raw),
            source=inbound.source[:300], action=decision.action, matched_by=decision.matched_by,
            rule_hits=list(decision.rule_hits),
            dedup_key=None if duplicate else prepared.dedup_key,
            duplicate_of=decision.duplicate_of,
        )
        if not duplicate:
            tickets.add_attachments(session, row, parsed.attachments)
        return number, author

    def _open_ticket(self, session: so.Session, parsed: ParsedMail, sender: str, author: int,
                     decision: Decision, now: datetime) -> int:
        # "Re: AW: Rechnung" opening a ticket makes a ticket "Rechnung".
        subject = strip_prefixes(remove_tag(self.config.site.subject_tag, parsed.subject))
        requester = author if decision.requester is None else \
            tickets.contact_id(session, decision.requester, "", now)     # an agent's #requester
        number = tickets.create_ticket(session, subject=subject, queue=decision.queue,
                                       priority=decision.priority, requester_id=requester,
                                       flags=decision.flags, now=now,
                                       linked_ticket=decision.linked_ticket, language=parsed.language)
        changes = dict(decision.changes)
        if decision.requester is not None:                 # an agent's ticket: its status too
            changes["status"] = decision.new_status
        if changes:        # by a routing rule, or by the agent's commands
            by = next((h for h in decision.rule_hits if h.startswith("rule:")), sender)
            tickets.change_ticket(session, number, changes, by, now)
        if decision.tags:
            tickets.add_tags(session, number, decision.tags)
        others = first_mail_participants(self.config, parsed, sender,
                                         lambda a: self.ours.classify(a) is not None)
        tickets.add_participants(session, number, {
            tickets.contact_id(session, address, "", now): role for address, role in others.items()}, now)
        return number

    def _hold(self, session: so.Session, prepared: Prepared, decision: Decision,
              now: datetime) -> int | None:
        """Record a held message; None when the same bytes are already held for
        the same reason (the sender delivered it again)."""
        inbound, parsed = prepared.inbound, prepared.parsed
        if inbound.quarantine_id:
            quarantine.held_again(session, inbound.quarantine_id, action=decision.action,
                                  reason=decision.reason, detail=prepared.detail,
                                  ticket_id=decision.ticket, now=now)
            return inbound.quarantine_id
        if quarantine.held_copy(session, prepared.raw_sha256, decision.reason):
            return None
        return quarantine.add(
            session, created_at=now, source=inbound.source[:300], mail_from=inbound.mail_from,
            rcpt_tos=list(inbound.rcpt_tos), raw_sha256=prepared.raw_sha256, size=len(inbound.raw),
            message_id=parsed.message_id if parsed else None,
            from_address=parsed.from_addr if parsed else None,
            subject=parsed.subject if parsed else "", action=decision.action,
            reason=decision.reason, detail=prepared.detail, ticket_id=decision.ticket)


def _answer(decision: Decision) -> str | None:
    """What the mail is to the ticket's response clock: an agent's public
    answer, a customer's mail (the first or a later one), or neither."""
    if "participant:agent" in decision.rule_hits:
        return RESPONSE if any(event.kind == "agent_reply" for event in decision.events) else None
    return CREATED if decision.action == NEW_TICKET else CUSTOMER


def _offset_minutes(date: datetime | None) -> int | None:
    offset = date.utcoffset() if date else None
    return int(offset.total_seconds() // 60) if offset is not None else None
