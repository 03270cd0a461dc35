"""Stage 4: what the database and our signatures say about a message, read
only: the ticket of its reply token, of the Message-IDs it answers and of its
subject tag, the sender's recent tickets, how many automatic mails the sender
got this hour, and the outbox entry a bounce reports on."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy.orm as so

from mailgate import matching
from mailgate.config import Config
from mailgate.domain import Candidates, Inbound, ParsedMail, Recipient, TicketRef
from mailgate.mail.subject import find_tag
from mailgate.mail.tokens import ReplyClaim, Signer
from mailgate.participants import reply_address, sender_of
from storage import events, outbox, tickets

_MAX_REFERENCED = 20          # tickets looked up for one mail's References, newest first


def read_token(signer: Signer, recipients: list[Recipient], today: date) -> tuple[str, ReplyClaim | None]:
    """("none" | "valid" | "invalid", claim) of the reply token among our
    recipients' plus-details (SPEC §4.0). support+urgent@ is an alias, not a token."""
    for recipient in recipients:
        if recipient.kind == "support" and Signer.looks_like_token(recipient.detail):
            claim = signer.read_reply_token(recipient.detail, today)
            return ("valid", claim) if claim else ("invalid", None)
    return "none", None


def own_mail(signer: Signer, parsed: ParsedMail, now: datetime) -> bool:
    """A mail we sent ourselves (its Message-ID is one we signed), found for
    instance in a Sent folder configured as an IMAP mailbox by mistake."""
    return bool(parsed.message_id) and bool(signer.read_message_id(parsed.message_id, now.date()))


def gather(config: Config, signer: Signer, session: so.Session, inbound: Inbound, parsed: ParsedMail,
           recipients: list[Recipient], dedup_key: str, now: datetime) -> Candidates:
    if own_mail(signer, parsed, now):
        return Candidates(own_mail=True)
    duplicate = tickets.find_duplicate(session, dedup_key)
    if duplicate:
        return Candidates(duplicate_of=duplicate[0], duplicate_ticket=duplicate[1])
    today = now.date()
    token, claim = read_token(signer, recipients, today)
    token_ticket = tickets.ticket_ref(session, claim.ticket) if claim else None
    referenced, forged = _referenced(signer, session, parsed, today)
    tag_number = find_tag(config.site.subject_tag, parsed.subject)
    tagged = None
    if tag_number is not None and not token_ticket and not referenced:
        tagged = tickets.ticket_ref(session, tag_number)
    sender = sender_of(parsed, inbound)
    contact = tickets.find_contact(session, sender) if sender else None
    matched = token_ticket or (referenced[0] if referenced else None) or tagged
    recent = ()
    if contact is not None and (matched is None or matched.status == "closed"):
        hours = max(1, config.conversation.same_topic_hours)
        recent = tuple(tickets.recent_tickets(session, contact, now - timedelta(hours=hours),
                                              limit=config.conversation.flood_tickets_per_hour + 50))
    answer_to = reply_address(parsed, sender)
    return Candidates(
        referenced=referenced, tagged=tagged, tag_number=tag_number,
        token=token, token_ticket=token_ticket, token_role=claim.role if claim else None,
        token_agent=tickets.contact_address(session, claim.ident) if claim and claim.role == "a" else None,
        forged_reference=forged, sender_contact=contact, recent=recent,
        automatic_sent=events.automatic_sent(session, answer_to, now - timedelta(hours=1)) if answer_to else {},
        suppressed=bool(answer_to) and outbox.is_suppressed(session, answer_to, now),
        **_bounce(signer, session, parsed, recipients, today),
    )


def _referenced(signer: Signer, session: so.Session, parsed: ParsedMail,
                today: date) -> tuple[tuple[TicketRef, ...], bool]:
    """The ticket of the newest Message-ID this mail answers, and whether one
    of "our" Message-IDs in it was forged. Our own IDs name their ticket
    under a signature; any other ID is looked up among stored messages."""
    ids = matching.thread_ids(parsed)[:_MAX_REFERENCED]
    ours: dict[str, int] = {}
    others: list[str] = []
    forged = False
    for message_id in ids:
        read = signer.read_message_id(message_id, today)
        if read is None:
            others.append(message_id)
        elif read is False:
            forged = True              # never looked up: it must not thread anything
        else:
            ours[message_id] = read[0]
    stored = tickets.tickets_by_message_ids(session, others)
    for message_id in ids:
        number = ours.get(message_id) or stored.get(message_id)
        ref = tickets.ticket_ref(session, number) if number else None
        if ref is not None:
            return (ref,), forged
    return (), forged


def _bounce(signer: Signer, session: so.Session, parsed: ParsedMail, recipients: list[Recipient],
            today: date) -> dict:
    """The outbox entry a bounce reports on: by our signed VERP address, else
    by the signed Message-ID of the mail it returns."""
    entry, how = None, None
    for recipient in recipients:
        if recipient.kind == "bounce" and recipient.detail:
            entry, how = signer.read_verp_detail(recipient.detail, today), "verp"
            break
    if entry is None and parsed.returned_message_id:
        read = signer.read_message_id(parsed.returned_message_id, today)
        if read:
            entry, how = read[1], "message_id"
    found = outbox.recipient_of(session, entry) if entry is not None else None
    if found is None:
        return {}
    return {"bounce_outbox": entry, "bounce_ticket": found[0], "bounce_recipient": found[1],
            "bounce_matched_by": how}
