"""Events (SPEC §6.1) made from decisions: pure values the notifier renders
and sends. Customer notices that answer a mail automatically count against
the per-sender hourly limit (SPEC §4.4)."""

from __future__ import annotations

from mailgate.domain import Event


def ticket_received(recipient: str) -> Event:
    """The acknowledgement of a new ticket, with its number and its link (for
    an event of the ticket a mail opens, the requester gets the link)."""
    return Event("ticket_received", "customer", recipient)


def reply_rejected(recipient: str, ticket: int | None, reason: str, contact: int | None) -> Event:
    """Why a reply was not added. A participant gets the link back to the
    ticket; anyone else the advice to write a new mail. Never the sender's
    own text: a rejection must not relay spam (Zendesk's placeholder rule)."""
    if contact is not None and ticket is not None:
        return Event("reply_rejected", "customer", recipient, ticket, link_contact=contact,
                     data={"reason": reason})
    return Event("reply_rejected", "customer", recipient, ticket,
                 data={"reason": reason, "new_request": True})


def flood_notice(recipient: str) -> Event:
    return Event("flood_notice", "customer", recipient)


def delivery_failed(ticket: int | None, address: str, status: str) -> Event:
    """Tell the ticket's agents the customer did not get our mail."""
    return Event("delivery_failed", "agents", None, ticket, automatic=False,
                 data={"address": address, "status": status})


# -- to agents ---------------------------------------------------------------

def new_ticket() -> Event:
    """A customer's mail opened a ticket (the ticket is the one it opens)."""
    return Event("new_ticket", "agents", automatic=False)


def customer_reply(ticket: int) -> Event:
    return Event("customer_reply", "agents", None, ticket, automatic=False)


def sla_warning(ticket: int, due: str, percent: int) -> Event:
    return Event("sla_warning", "agents", None, ticket, automatic=False,
                 data={"due": due, "percent": percent})


def sla_breach(ticket: int, due: str) -> Event:
    return Event("sla_breach", "agents", None, ticket, automatic=False, data={"due": due})


def command_error(agent: str, ticket: int | None, error: str, commands: tuple[str, ...]) -> Event:
    return Event("command_error", "agents", agent, ticket, automatic=True,
                 data={"error": error, "commands": list(commands)})


# -- to customers, from agents' actions and the scheduler ------------------------

def agent_reply(recipient: str, ticket: int | None, agent: str, text: str,
                attachments: tuple[dict, ...] = ()) -> Event:
    """An agent's public answer, relayed (the agent's address names them),
    with the files the agent attached ({"filename", "content_type", "sha256"})."""
    data = {"agent": agent, "text": text}
    if attachments:
        data["attachments"] = list(attachments)
    return Event("agent_reply", "customer", recipient, ticket, automatic=False, data=data)


def ticket_solved(recipient: str, ticket: int, contact: int | None) -> Event:
    return Event("ticket_solved", "customer", recipient, ticket, automatic=False, link_contact=contact)


def ticket_closed(recipient: str, ticket: int) -> Event:
    return Event("ticket_closed", "customer", recipient, ticket, automatic=False)


def inactivity_reminder(recipient: str, ticket: int, contact: int | None, deadline: str) -> Event:
    return Event("inactivity_reminder", "customer", recipient, ticket, automatic=False,
                 link_contact=contact, data={"deadline": deadline})


def closed_inactivity(recipient: str, ticket: int) -> Event:
    return Event("closed_inactivity", "customer", recipient, ticket, automatic=False)


def status_changed(old: str, new: str, requester: str | None, ticket: int,
                   contact: int | None) -> tuple[Event, ...]:
    """What the requester hears when a ticket is solved or closed by hand."""
    if requester is None or old == new:
        return ()
    if new == "solved":
        return (ticket_solved(requester, ticket, contact),)
    if new == "closed" and old != "closed":
        return (ticket_closed(requester, ticket),)
    return ()
