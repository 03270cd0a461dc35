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
