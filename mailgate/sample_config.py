"""The sample mailgate.toml written by `mailgate init`: every key, its default and
what it does, generated from the config dataclasses so it cannot drift from them."""

from __future__ import annotations

import dataclasses
import json
import textwrap

from mailgate.sections import SECTIONS

HEADER = """\
# mailgate configuration.
#
# Every key is shown with its default. Any key can be overridden from the
# environment as MAILGATE_<SECTION>_<KEY>, e.g. MAILGATE_SMTP_LISTEN=0.0.0.0:25
# or MAILGATE_DATABASE_URL=postgresql+psycopg://mailgate@db/mailgate.
# Check a change with `mailgate config check`.
"""

QUEUES = """\
# Queues: each owns support addresses (plus-addresses such as
# support+anything@ are recognised too). A mail to several of our addresses
# makes one ticket, owned by the first queue in this list.
#   name       short name used in commands and routing
#   addresses  the support addresses of this queue
#   language   language of the queue's mail, e.g. "it" (empty: detect per customer)
#   priority   default priority of new tickets: low, medium or high
#   closed_policy  a reply to a closed ticket: "reject" (the sender gets a
#              link back), "reopen", or "new_ticket" (linked to the closed one)
#   timezone   the team's time zone, e.g. "Europe/Rome" (empty: notify.timezone)
#   categories what `#category` may set, e.g. ["billing/invoices", "technical"]
#   hours      business hours, e.g. "Mon-Fri 10:00-19:00" (in `timezone`), or "24/7"
#   holidays   country code whose national holidays are closed days, e.g. "IT", "RU"
#   closed_dates  extra closed days, e.g. ["2026-12-24"]
#   first_response, next_response  this queue's response targets by priority,
#              overriding [sla], e.g. {{ high = "30m", medium = "2h", low = "1d" }}
#   escalation who gets sla_breach (empty: the queue's supervisors, else its agents)
[[queues]]
name = "support"
addresses = ["support@{domain}"]
language = ""
priority = "medium"
closed_policy = "reject"
timezone = ""
categories = []
hours = "24/7"
holidays = ""
closed_dates = []
first_response = {{}}
next_response = {{}}
escalation = []

# Agents: who answers tickets, from their own mail client (see README,
# "Agents by mail"). Their addresses take part in every ticket of their
# queues (all queues when `queues` is empty).
#   [[agents]]
#   name = "Anna Bianchi"
#   address = "anna@{domain}"
#   queues = ["support"]
#   role = "agent"            # or "supervisor"

# Routing rules: the first that matches a new mail sets its queue, category,
# priority and tags (patterns are case-insensitive regular expressions).
#   [[rules]]
#   name = "invoices"
#   match_subject = '\\b(invoice|fattura)\\b'     # or match_to, match_from,
#   queue = "support"                          # match_header = "X-Foo: bar"
#   priority = "high"
#   tags = ["invoice"]

# IMAP mailboxes `mailgate serve` fetches from (see README, "IMAP mailboxes").
#   [[imap]]
#   name = "inbox"
#   host = "mail.{domain}"
#   tls = "ssl"                # or "starttls", "none"
#   user = "support"
#   password_env = "MAILGATE_IMAP_PASSWORD"   # or password, or oauth2_token_command
#   folder = "INBOX"
#   after = "seen"             # or "move:Processed", "delete"

# Organisations: customers' companies, by mail domain. With share_tickets,
# colleagues may answer each other's tickets.
#   [[organisations]]
#   name = "ACME"
#   domains = ["acme.example"]
#   share_tickets = true
"""


def render_sample(domain: str, secret_key: str) -> str:
    """The text of a complete, valid config for `domain`."""
    overrides = {("site", "domain"): domain, ("site", "secret_key"): secret_key}
    chunks = [HEADER]
    for section, cls in SECTIONS.items():
        lines = [f"[{section}]"]
        for spec in dataclasses.fields(cls):
            for doc_line in textwrap.wrap(spec.metadata["doc"], 76):
                lines.append(f"# {doc_line}")
            value = overrides.get((section, spec.name), spec.default)
            lines.append(f"{spec.name} = {_toml_literal(value)}")
        chunks.append("\n".join(lines) + "\n")
    chunks.append(QUEUES.format(domain=domain))
    return "\n".join(chunks)


def _toml_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
