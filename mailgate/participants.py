"""Who may continue a ticket (SPEC §4.3): the requester, the addresses that
took part in it (Cc of the first mail, Reply-To), agents, and colleagues of
the requester when their organisation shares tickets. Pure."""

from __future__ import annotations

from typing import Callable

from mailgate.config import Config
from mailgate.domain import Inbound, ParsedMail, TicketRef


def sender_of(parsed: ParsedMail, inbound: Inbound) -> str:
    """The author: From, else the envelope sender."""
    return parsed.from_addr or (inbound.mail_from or "").lower()


def reply_address(parsed: ParsedMail, sender: str) -> str:
    """Where answers go: the customer's Reply-To, else the sender."""
    return parsed.reply_to[0] if parsed.reply_to else sender


def standing(config: Config, sender: str, ticket: TicketRef) -> str | None:
    """How `sender` may write to `ticket`, or None if they may not."""
    if sender == ticket.requester:
        return "requester"
    if sender in ticket.participants:
        return "participant"
    if any(agent.address == sender for agent in config.agents):
        return "agent"
    if ticket.requester and _colleagues(config, sender, ticket.requester):
        return "colleague"
    return None


def first_mail_participants(config: Config, parsed: ParsedMail, sender: str,
                            is_ours: Callable[[str], bool]) -> dict[str, str]:
    """Address -> role of those a new ticket's first mail brings in: its Cc
    (when `cc_participants` is on) and its Reply-To. Not its To: an address
    there that is not ours is usually an alias forwarding to us. Our own
    addresses never become participants (a support address in Cc would loop,
    django-helpdesk #825), nor do agents, who take part anyway."""
    agents = {agent.address for agent in config.agents}
    found: dict[str, str] = {}
    candidates = [(a, "reply_to") for a in parsed.reply_to]
    if config.conversation.cc_participants:
        candidates += [(a, "cc") for a in parsed.cc]
    for address, role in candidates:
        if address and address != sender and address not in agents and not is_ours(address):
            found.setdefault(address, role)
    return found


def _colleagues(config: Config, one: str, other: str) -> bool:
    """Both addresses belong to one organisation that shares its tickets."""
    first, second = one.rpartition("@")[2], other.rpartition("@")[2]
    return any(organisation.share_tickets and _within(first, organisation.domains)
               and _within(second, organisation.domains) for organisation in config.organisations)


def _within(domain: str, domains: tuple[str, ...]) -> bool:
    """acme.com covers acme.com and it.acme.com."""
    return any(domain == d or domain.endswith("." + d) for d in domains)
