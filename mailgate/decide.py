"""What to do with a parsed message: a Decision plus the named rules that
fired. Pure: everything it needs is passed in."""

from __future__ import annotations

from mailgate.config import Config
from mailgate.domain import (BOUNCE, COMMENT, DUPLICATE, NEW_TICKET, QUARANTINED, REJECTED,
                             Candidates, Decision, Inbound, ParsedMail, Recipient)
from mailgate.matching import match_ticket

# A customer's answer to a ticket waiting on them, or already solved, reopens it.
_REOPENS = {"pending": "open", "solved": "open"}


def decide(config: Config, inbound: Inbound, parsed: ParsedMail, recipients: list[Recipient],
           recipient_source: str, candidates: Candidates) -> Decision:
    hits = [f"recipient:{recipient_source}"]
    if candidates.duplicate_of is not None:
        return Decision(DUPLICATE, ticket=candidates.duplicate_ticket, reason="duplicate",
                        duplicate_of=candidates.duplicate_of, rule_hits=tuple(hits + ["duplicate"]))
    kinds = {r.kind for r in recipients}
    if recipients and kinds == {"noreply"}:
        return _refuse(REJECTED, "off_thread:no_reply", hits)
    if recipients and kinds == {"bounce"}:
        # Matching bounces to the outbox entry they answer comes with the
        # notifier; until then they are held, never turned into tickets.
        return _refuse(BOUNCE, "bounce:unmatched", hits)
    queue = _owning_queue(config, recipients, hits)
    if not (parsed.from_addr or inbound.mail_from):
        return _refuse(QUARANTINED, "no_sender", hits)
    match, match_hits = match_ticket(candidates)
    hits += match_hits
    if match.ticket is None:
        return Decision(NEW_TICKET, queue=queue, new_status="new",
                        priority=config.queue(queue).priority, rule_hits=tuple(hits + [f"queue:{queue}"]))
    ticket = match.ticket
    if ticket.status == "closed":
        return Decision(REJECTED, ticket=ticket.number, reason="off_thread:closed",
                        matched_by=match.matched_by, rule_hits=tuple(hits + ["off_thread:closed"]))
    return Decision(COMMENT, queue=ticket.queue, ticket=ticket.number, matched_by=match.matched_by,
                    new_status=_REOPENS.get(ticket.status), rule_hits=tuple(hits))


def _owning_queue(config: Config, recipients: list[Recipient], hits: list[str]) -> str:
    """The first queue in config order among our recipients (SPEC §3.1)."""
    queues = {r.queue for r in recipients if r.kind == "support"}
    for queue in config.queues:
        if queue.name in queues:
            return queue.name
    hits.append("recipient:default_queue")
    return config.queues[0].name


def _refuse(action: str, reason: str, hits: list[str]) -> Decision:
    return Decision(action, reason=reason, rule_hits=tuple(hits + [reason]))
