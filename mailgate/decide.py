"""What to do with a parsed message: a Decision, the events it causes, and
the named rules that led there. Pure: everything it needs is passed in.

The order: repeats; bounces; no sender; a bad token; mail to the no-reply
address; then a mail that continues a ticket (SPEC §4.1) must come from a
participant (§4.3) of a ticket that is not closed (§4.2), and a mail that
opens one must not be a flood or the same topic again (§4.5). Automatic mail
never gets an automatic answer (§4.4).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mailgate.agentcmd import COMMANDS, Names, parse_commands
from mailgate.config import Config
from mailgate.directory import agent_names, category_names
from mailgate.domain import (BOUNCE, COMMENT, DUPLICATE, IGNORED, NEW_TICKET, QUARANTINED, REJECTED,
                             Candidates, Decision, Inbound, ParsedMail, Recipient, TicketRef)
from mailgate.mail import autosubmit
from mailgate.mail.authresults import dmarc_failed
from mailgate.mail.replytext import visible_text
from mailgate.mail.subject import remove_tag, strip_prefixes
from mailgate.matching import match_ticket
from mailgate.rules import first_match
from mailgate.notify import events
from mailgate.participants import reply_address, sender_of, standing

# A customer's answer to a ticket waiting on them, or already solved, reopens it.
_REOPENS = {"pending": "open", "solved": "open"}
_SIMILAR_CHARS = 4000                   # compare at most this much text for "same topic"


@dataclass
class _Mail:
    """What every rule below looks at, gathered once."""

    config: Config
    parsed: ParsedMail
    candidates: Candidates
    sender: str
    automatic: list[str]
    now: datetime
    hits: list[str] = field(default_factory=list)
    unauthenticated: bool = False
    recipients: tuple[str, ...] = ()              # our addresses it was sent to

    @property
    def reply_address(self) -> str:
        return reply_address(self.parsed, self.sender)


def decide(config: Config, inbound: Inbound, parsed: ParsedMail, recipients: list[Recipient],
           recipient_source: str, candidates: Candidates, now: datetime) -> Decision:
    hits = [f"recipient:{recipient_source}"]
    if candidates.own_mail:         # FreeScout #3533: a Sent folder fetched as if it were the inbox
        return Decision(IGNORED, reason="own_mail", rule_hits=tuple(hits + ["own_mail"]))
    if candidates.duplicate_of is not None:
        return Decision(DUPLICATE, ticket=candidates.duplicate_ticket, reason="duplicate",
                        duplicate_of=candidates.duplicate_of, rule_hits=tuple(hits + ["duplicate"]))
    sender = sender_of(parsed, inbound)
    mail = _Mail(config, parsed, candidates, sender,
                 autosubmit.signals(parsed, inbound.mail_from, loop_names(config)), now, hits,
                 recipients=tuple(r.address for r in recipients))
    hits += mail.automatic
    kinds = {r.kind for r in recipients}
    if "bounce" in kinds or "auto:dsn" in mail.automatic or parsed.failed_recipients and mail.automatic:
        return _bounce(mail)
    queue = _owning_queue(config, recipients, hits)
    if not sender:
        return Decision(QUARANTINED, reason="no_sender", rule_hits=tuple(hits + ["no_sender"]))
    mail.unauthenticated = dmarc_failed(parsed.headers.get("authentication-results", ()),
                                        config.trusted_authserv_ids)
    if mail.unauthenticated:
        hits.append("auth:dmarc_fail")
    match, match_hits = match_ticket(candidates)
    hits += match_hits
    if candidates.token == "invalid":
        return _refuse(mail, "off_thread:bad_token", match.ticket, match.matched_by)
    if recipients and kinds == {"noreply"}:
        return _refuse(mail, "off_thread:no_reply", match.ticket, match.matched_by)
    if match.ticket is not None:
        if candidates.token_role == "a" and match.matched_by == "token":
            return _agent_answer(mail, match.ticket)
        return _continue(mail, match.ticket, match.matched_by)
    if candidates.token == "valid" and candidates.token_role == "a":
        # An agent token of a ticket that is gone: nothing to answer, and not a new request.
        return _refuse(mail, "off_thread:bad_token", None, None)
    if _is_agent(config, sender):
        requested = _agent_opens(mail, queue)
        if requested is not None:
            return requested
    return _open(mail, queue)


def _continue(mail: _Mail, ticket: TicketRef, matched_by: str) -> Decision:
    role = _role(mail, ticket)
    if role is None:
        return _refuse(mail, "off_thread:not_participant", ticket, matched_by)
    if ticket.status == "closed":
        queue = mail.config.queue(ticket.queue)
        policy = queue.closed_policy if queue else "reject"
        if policy == "reject" or mail.automatic:
            return _refuse(mail, "off_thread:closed", ticket, matched_by)
        if policy == "new_ticket":
            mail.hits.append("closed:new_ticket")
            return replace(_open(mail, ticket.queue, follow_up=True), linked_ticket=ticket.number)
        mail.hits.append("closed:reopen")
        return Decision(COMMENT, queue=ticket.queue, ticket=ticket.number, matched_by=matched_by,
                        new_status="open", events=_tell_agents(role, ticket.number),
                        rule_hits=tuple(mail.hits))
    if mail.automatic:
        # An out-of-office is kept on the ticket and changes nothing (SPEC §4.4).
        if autosubmit.is_out_of_office(mail.parsed):
            mail.hits.append("auto:out_of_office")
        return Decision(COMMENT, queue=ticket.queue, ticket=ticket.number, matched_by=matched_by,
                        visibility="automatic", rule_hits=tuple(mail.hits))
    return Decision(COMMENT, queue=ticket.queue, ticket=ticket.number, matched_by=matched_by,
                    new_status=_REOPENS.get(ticket.status), events=_tell_agents(role, ticket.number),
                    rule_hits=tuple(mail.hits))


def _tell_agents(role: str, ticket: int) -> tuple:
    """A customer's answer is news for the ticket's agents; an agent's own is not."""
    return () if role == "agent" else (events.customer_reply(ticket),)


def _agent_answer(mail: _Mail, ticket: TicketRef) -> Decision:
    """A mail to an agent token (SPEC §5): the agent it names answers the
    customer, leaves a note, or changes the ticket by commands. Anyone else
    writing to it is no participant, and nothing of theirs is relayed."""
    if mail.sender != mail.candidates.token_agent:
        mail.hits.append("agent:token_of_another")
        return _refuse(mail, "off_thread:not_participant", ticket, "token")
    mail.hits.append("participant:agent")
    if mail.automatic:                  # the agent's out-of-office: kept, relayed to nobody
        return Decision(COMMENT, queue=ticket.queue, ticket=ticket.number, matched_by="token",
                        visibility="automatic", rule_hits=tuple(mail.hits))
    commands = _commands(mail, ticket.queue)
    if commands.errors:
        return _command_error(mail, ticket, commands)
    if ticket.status == "closed" and commands.status != "open":
        return _refuse(mail, "off_thread:closed", ticket, "token")     # #open first
    relay = bool(commands.text) and not commands.note
    status = commands.status or ("pending" if relay else None)
    files = _attachments(mail)
    notices = tuple(events.agent_reply(address, ticket.number, mail.sender, commands.text, files)
                    for address in _customers(mail.config, ticket)) if relay else ()
    if commands.status == "solved" and ticket.requester and ticket.status != "solved":
        notices += (events.ticket_solved(ticket.requester, ticket.number, ticket.requester_contact),)
    mail.hits.append("agent:note" if commands.note else "agent:reply" if relay else "agent:commands_only")
    changes = {key: value for key, value in commands.changes.items() if key != "status"}
    return Decision(COMMENT, queue=ticket.queue, ticket=ticket.number, matched_by="token",
                    new_status=status, visibility="internal" if commands.note else "public",
                    changes=tuple(changes.items()), tags=tuple(commands.tags), events=notices,
                    participants=_brought_in(mail), rule_hits=tuple(mail.hits))


def _command_error(mail: _Mail, ticket: TicketRef, commands) -> Decision:
    """A bad command changes nothing; the agent hears which commands exist."""
    mail.hits.append("agent:command_error")
    notice = events.command_error(mail.sender, ticket.number, "; ".join(commands.errors), COMMANDS)
    return Decision(REJECTED, ticket=ticket.number, reason="agent:command_error", matched_by="token",
                    events=(notice,), rule_hits=tuple(mail.hits))


def _agent_opens(mail: _Mail, queue: str) -> Decision | None:
    """An agent's new mail with #requester opens a ticket for that customer
    and sends them the agent's words; without it, it is an ordinary mail."""
    commands = _commands(mail, queue)
    if commands.requester is None:
        return None
    mail.hits.append("participant:agent")
    if commands.errors:
        mail.hits.append("agent:command_error")
        notice = events.command_error(mail.sender, None, "; ".join(commands.errors), COMMANDS)
        return Decision(REJECTED, reason="agent:command_error", events=(notice,), rule_hits=tuple(mail.hits))
    mail.hits.append("agent:opens_for_requester")
    notices = (events.agent_reply(commands.requester, None, mail.sender, commands.text, _attachments(mail)),) \
        if commands.text and not commands.note else ()
    changes = {key: value for key, value in commands.changes.items() if key not in ("status", "queue")}
    target = commands.queue or queue
    return Decision(NEW_TICKET, queue=target, new_status=commands.status or ("pending" if notices else "open"),
                    priority=commands.priority or mail.config.queue(target).priority,
                    requester=commands.requester, changes=tuple(changes.items()), tags=tuple(commands.tags),
                    visibility="internal" if commands.note else "public", events=notices,
                    rule_hits=tuple(mail.hits + [f"queue:{target}"]))


def _commands(mail: _Mail, queue: str):
    """The commands at the top of an agent's mail, and the words under them.
    Read from the whole text, not the visible text: a command line such as
    "#assign marco@example.com" can look like the start of a quote; the
    visible text of what follows them is what goes to the customer."""
    commands = parse_commands(mail.parsed.text or "", _names(mail.config), queue)
    if commands.lines:
        mail.hits += [f"command:{line.split()[0][1:].lower()}" for line in commands.lines]
        commands.text = visible_text(commands.text)
    else:
        commands.text = mail.parsed.visible_text or ""
    return commands


def _attachments(mail: _Mail) -> tuple[dict, ...]:
    """The files of an agent's answer that go with it: not inline images
    (a signature's logo), and only those kept in the file store."""
    return tuple({"filename": a.filename, "content_type": a.content_type, "sha256": a.sha256}
                 for a in mail.parsed.attachments if a.stored and not a.inline)


def _customers(config: Config, ticket: TicketRef) -> list[str]:
    """Who an agent's public answer goes to: the requester and the other
    participants who are not agents."""
    agents = {agent.address for agent in config.agents}
    people = [ticket.requester] if ticket.requester else []
    people += sorted(ticket.participants)
    return [p for p in dict.fromkeys(people) if p and p not in agents]


def _brought_in(mail: _Mail) -> tuple[str, ...]:
    """Addresses an agent put in Cc: they take part from now on."""
    agents = {agent.address for agent in mail.config.agents}
    ours = loop_names(mail.config)
    return tuple(a for a in mail.parsed.cc if a not in agents and a not in ours and a != mail.sender)


def _is_agent(config: Config, address: str) -> bool:
    return any(agent.address == address for agent in config.agents)


def _names(config: Config) -> Names:
    return Names(agents=agent_names(config.agents), queues=frozenset(q.name for q in config.queues),
                 categories={q.name: category_names(q) for q in config.queues})


def _open(mail: _Mail, queue: str, follow_up: bool = False) -> Decision:
    config, candidates, hits = mail.config, mail.candidates, mail.hits
    last_hour = [t for t in candidates.recent if t.created_at >= mail.now - timedelta(hours=1)]
    if len(last_hour) >= config.conversation.flood_tickets_per_hour:
        hits.append("flood")
        notices = ()
        # One notice an hour at most; it may pass the general hourly limit,
        # which the acknowledgements of the first tickets have used up.
        if candidates.automatic_sent.get("flood_notice"):
            hits.append("auto_reply:flood_notice_sent")
        elif _may_answer(mail, count_limit=False):
            notices = (events.flood_notice(mail.reply_address),)
        return Decision(QUARANTINED, reason="flood", events=notices, rule_hits=tuple(hits))
    same = None if mail.automatic or follow_up else _same_topic(mail)
    if same is not None:
        hits.append("same_topic")
        return Decision(COMMENT, queue=same.queue, ticket=same.number, matched_by="same_topic",
                        new_status=_REOPENS.get(same.status), flags=("possible_duplicate",),
                        events=(events.customer_reply(same.number),), rule_hits=tuple(hits))
    flags = tuple(flag for flag, on in (("auto", bool(mail.automatic)),
                                        ("unauthenticated", mail.unauthenticated)) if on)
    rule = first_match(config.rules, mail.parsed, mail.recipients)
    changes, tags, priority = {}, (), config.queue(queue).priority
    if rule is not None:
        hits.append(f"rule:{rule.name}")
        queue, priority = rule.queue or queue, rule.priority or config.queue(rule.queue or queue).priority
        if rule.category:
            category, _, subcategory = rule.category.partition("/")
            changes = {"category": category, "subcategory": subcategory or None}
        tags = rule.tags
    notices = (events.ticket_received(mail.reply_address),) if _may_answer(mail) else ()
    notices += (events.new_ticket(),)
    return Decision(NEW_TICKET, queue=queue, new_status="new", priority=priority, flags=flags,
                    changes=tuple(changes.items()), tags=tags, events=notices,
                    rule_hits=tuple(hits + [f"queue:{queue}"]))


def _refuse(mail: _Mail, reason: str, ticket: TicketRef | None, matched_by: str | None) -> Decision:
    """Off-thread (SPEC §4.2): kept with its reason, not added, answered with
    the link back when the sender takes part in the ticket, else with the
    advice to write a new mail."""
    mail.hits.append(reason)
    notices = ()
    if _may_answer(mail):
        linked = ticket is not None and _role(mail, ticket, record=False) is not None
        notices = (events.reply_rejected(mail.reply_address, ticket.number if ticket else None, reason,
                                         mail.candidates.sender_contact if linked else None),)
    return Decision(REJECTED, ticket=ticket.number if ticket else None, reason=reason,
                    matched_by=matched_by, events=notices, rule_hits=tuple(mail.hits))


def _role(mail: _Mail, ticket: TicketRef, record: bool = True) -> str | None:
    """The sender's standing in the ticket; none when the MTA says the From is forged."""
    role = None if mail.unauthenticated else standing(mail.config, mail.sender, ticket)
    if record and role is not None:
        mail.hits.append(f"participant:{role}")
    return role


def _bounce(mail: _Mail) -> Decision:
    """A delivery report about our mail (SPEC §4.4): never a ticket. Only a
    report we can tie to one of our mails (signed VERP address or signed
    Message-ID) marks it failed, and only that mail's recipient is suppressed:
    a forged report cannot silence someone else's address."""
    parsed, candidates = mail.parsed, mail.candidates
    failed = parsed.failed_recipients
    permanent = [r for r in failed if r.permanent]
    if candidates.bounce_outbox is None:
        mail.hits.append("bounce:unmatched")
        return Decision(BOUNCE, reason="bounce:unmatched", rule_hits=tuple(mail.hits))
    reason = "bounce:hard" if permanent else "bounce:soft" if failed else "bounce:no_failure"
    mail.hits += [f"bounce:matched_by_{candidates.bounce_matched_by}", reason]
    address, ticket = candidates.bounce_recipient, candidates.bounce_ticket
    notices = ()
    if failed and address and ticket is not None:
        notices = (events.delivery_failed(ticket, address, (permanent or failed)[0].status),)
    return Decision(BOUNCE, ticket=ticket, reason=reason,
                    bounce_outbox=candidates.bounce_outbox if failed else None,
                    suppress=(address,) if permanent and address else (),
                    visibility="automatic", events=notices, rule_hits=tuple(mail.hits))


def _may_answer(mail: _Mail, count_limit: bool = True) -> bool:
    """May an automatic mail go to this sender now? Never to automatic mail,
    to a sender the MTA did not vouch for, to an address that bounces, or
    past the hourly limit (loops between auto-responders end here)."""
    if mail.automatic:
        reason = "auto_reply:to_automatic_mail"
    elif mail.unauthenticated:
        reason = "auto_reply:unauthenticated"
    elif mail.candidates.suppressed:
        reason = "auto_reply:address_suppressed"
    elif count_limit and sum(mail.candidates.automatic_sent.values()) >= mail.config.conversation.auto_replies_per_hour:
        reason = "auto_reply:limit"
    else:
        return True
    mail.hits.append(reason)
    return False


def _same_topic(mail: _Mail) -> TicketRef | None:
    """The sender's ticket this mail repeats: same subject, near-identical text."""
    conversation = mail.config.conversation
    since = mail.now - timedelta(hours=conversation.same_topic_hours)
    subject = normalised_subject(mail.config, mail.parsed.subject)
    text = (mail.parsed.visible_text or mail.parsed.text)[:_SIMILAR_CHARS]
    for recent in mail.candidates.recent:
        if recent.ref.status == "closed" or recent.created_at < since:
            continue
        if normalised_subject(mail.config, recent.subject) != subject:
            continue
        matcher = difflib.SequenceMatcher(None, text, recent.first_text[:_SIMILAR_CHARS], autojunk=False)
        if matcher.real_quick_ratio() * 100 >= conversation.same_topic_similarity and \
                matcher.ratio() * 100 >= conversation.same_topic_similarity:
            return recent.ref
    return None


def normalised_subject(config: Config, subject: str) -> str:
    """"Re: AW: [#12] Rechnung  offen" -> "rechnung offen"."""
    return re.sub(r"\s+", " ", strip_prefixes(remove_tag(config.site.subject_tag, subject))).strip().lower()


def _owning_queue(config: Config, recipients: list[Recipient], hits: list[str]) -> str:
    """The first queue in config order among our recipients (SPEC §3.1)."""
    queues = {r.queue for r in recipients if r.kind == "support"}
    for queue in config.queues:
        if queue.name in queues:
            return queue.name
    hits.append("recipient:default_queue")
    return config.queues[0].name


def loop_names(config: Config) -> frozenset[str]:
    """Addresses and names that, in X-Loop or From, mean "this came from us"."""
    names = {config.site.domain, config.site.noreply_address, config.site.bounce_address}
    names.update(address for queue in config.queues for address in queue.addresses)
    return frozenset(name.lower() for name in names)
