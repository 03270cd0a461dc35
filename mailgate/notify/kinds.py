"""The notifications mailgate sends (SPEC §6.1), and how each goes out: to
whom, from which address, with which Auto-Submitted value (RFC 3834), and
which variables its templates get besides the common ones (`site`, `ticket`,
`recipient`). Sample values for `templates check` and `templates preview`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    audience: str                   # "customer" or "agents"
    sender: str                     # "support", "noreply" or "agent" ("<Agent> via <Support>")
    auto_submitted: str | None      # "auto-replied", "auto-generated" or None (a person wrote it)
    variables: tuple[str, ...] = ()


KINDS = {kind.name: kind for kind in (
    # To customers. Notices that expect no answer come from the no-reply address.
    Kind("ticket_received", "customer", "support", "auto-replied", ("due", "response_time")),
    Kind("agent_reply", "customer", "agent", None, ("agent", "text")),
    Kind("ticket_solved", "customer", "support", "auto-generated"),
    Kind("inactivity_reminder", "customer", "support", "auto-generated", ("deadline",)),
    Kind("closed_inactivity", "customer", "noreply", "auto-generated"),
    Kind("ticket_closed", "customer", "noreply", "auto-generated"),
    Kind("reply_rejected", "customer", "noreply", "auto-replied", ("reason", "new_request")),
    Kind("flood_notice", "customer", "noreply", "auto-replied"),
    # To agents.
    Kind("new_ticket", "agents", "support", "auto-generated", ("customer", "text")),
    Kind("customer_reply", "agents", "support", "auto-generated", ("customer", "text")),
    Kind("sla_warning", "agents", "support", "auto-generated", ("due", "percent")),
    Kind("sla_breach", "agents", "support", "auto-generated", ("due",)),
    Kind("command_error", "agents", "support", "auto-replied", ("error", "commands")),
    Kind("delivery_failed", "agents", "noreply", "auto-generated", ("address", "status")),
)}


def sample_context(kind: str, language: str = "en") -> dict:
    """Plausible values for every variable `kind`'s templates may use."""
    names = {"it": ("Giulia Rossi", "Marco Bianchi"), "es": ("Lucía García", "Javier López"),
             "fr": ("Camille Martin", "Julien Durand"), "ru": ("Анна Смирнова", "Иван Петров")}
    customer, agent = names.get(language.partition("_")[0], ("Jane Doe", "Sam Agent"))
    context = {
        "site": {"name": "Example Support", "url": "https://support.example.com",
                 "address": "support@example.com"},
        "ticket": {"number": 1234, "subject": "Order 4471 not delivered", "status": "open",
                   "priority": "medium", "queue": "support", "tag": "[#1234]",
                   "link": "https://support.example.com/t/1234?k=sample"},
        "recipient": {"name": customer, "address": "customer@example.org"},
    }
    if kind == "flood_notice":
        context["ticket"] = None          # the held mail opened no ticket
    if KINDS[kind].audience == "agents":
        context["recipient"] = {"name": agent, "address": "agent@example.com"}
    samples = {
        "due": "2026-11-23T13:00:00+00:00", "deadline": "2026-11-25T09:00:00+00:00",
        "response_time": 4 * 3600, "percent": 80, "reason": "off_thread:closed",
        "new_request": False, "agent": {"name": agent},
        "customer": {"name": customer, "address": "customer@example.org"},
        "text": "Hello,\nmy order 4471 has not arrived yet.\nThanks",
        "error": "unknown command #escalate",
        "commands": ["#note", "#solve", "#close", "#pending", "#open", "#priority low|medium|high",
                     "#assign <agent>", "#queue <name>", "#category <category>/<subcategory>",
                     "#tag <tag>"],
        "address": "customer@example.org", "status": "5.1.1",
    }
    context.update({name: samples[name] for name in KINDS[kind].variables})
    return context
