"""Typed data handed from one ingest stage to the next (see STYLE.md, "The way
a message travels"): Inbound -> ParsedMail -> Candidates -> Match -> Decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

# Actions reported by `mailgate ingest --json` and stored with each message.
NEW_TICKET = "new_ticket"
COMMENT = "comment"
DUPLICATE = "duplicate"
QUARANTINED = "quarantined"
REJECTED = "rejected"
BOUNCE = "bounce"
IGNORED = "ignored"                   # our own mail coming back: recorded, nothing else

# Ticket statuses (SPEC §1 main loop).
STATUSES = ("new", "open", "pending", "solved", "closed")


@dataclass(frozen=True)
class Inbound:
    """Stage 1: the bytes of one message and how they reached us."""

    raw: bytes = field(repr=False)
    source: str                       # "smtp", "lmtp", "imap:<box>" or a file path
    received_at: datetime
    mail_from: str | None = None      # envelope sender; "" is the null reverse-path
    rcpt_tos: tuple[str, ...] = ()    # envelope recipients (or --recipient for the pipe)
    quarantine_id: int | None = None  # set when `quarantine retry` re-runs an entry
    fallback_rcpt: tuple[str, ...] = ()   # for mail naming none of ours (an IMAP mailbox's queue)


@dataclass(frozen=True)
class Recipient:
    """One of our addresses, classified."""

    address: str
    kind: str                         # "support", "noreply" or "bounce"
    queue: str | None = None          # owning queue of a support address
    detail: str = ""                  # what followed "+" in the local part


@dataclass(frozen=True)
class AttachmentPart:
    filename: str
    content_type: str
    size: int
    sha256: str
    content_id: str | None = None
    inline: bool = False
    payload: bytes | None = field(default=None, repr=False)   # dropped once stored
    stored: bool = True               # False when over the size limit: kept in the raw mail only


@dataclass(frozen=True)
class FailedRecipient:
    """A recipient a delivery status notification reports as failed."""

    address: str
    status: str                       # "5.1.1", or "" when the report gives none
    permanent: bool


@dataclass(frozen=True)
class ParsedMail:
    """Stage 3: what mailgate understood of a message (pure data, no I/O)."""

    message_id: str | None            # with angle brackets, as in headers
    from_addr: str | None             # bare, lowercased
    from_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None             # aware, in the sender's offset
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    html: str | None                  # sanitised
    attachments: tuple[AttachmentPart, ...]
    headers: Mapping[str, tuple[str, ...]] = field(repr=False)   # lowercased name -> values
    content_digest: str = ""          # sha256 of the decoded content, transport headers excluded
    defects: tuple[str, ...] = ()
    visible_text: str | None = None   # what the author wrote now (SPEC §3.4)
    language: str | None = None
    failed_recipients: tuple[FailedRecipient, ...] = ()   # when it is a bounce
    returned_message_id: str | None = None                 # the mail a bounce returns


@dataclass(frozen=True)
class TicketRef:
    number: int
    status: str
    queue: str
    requester: str | None = None
    participants: frozenset[str] = frozenset()    # addresses that may continue it
    requester_contact: int | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class RecentTicket:
    """One of the sender's recent tickets: for flood and same-topic checks."""

    ref: TicketRef
    subject: str
    first_text: str
    created_at: datetime


@dataclass(frozen=True)
class Candidates:
    """Stage 4: what the database knows that bears on this message (read only)."""

    duplicate_of: int | None = None           # message row id with the same dedup key
    duplicate_ticket: int | None = None
    referenced: tuple[TicketRef, ...] = ()    # tickets of In-Reply-To/References, best first
    tagged: TicketRef | None = None           # ticket named by the subject tag
    tag_number: int | None = None             # number in the subject tag, even if unknown
    token: str = "none"                       # "none", "valid" or "invalid" (SPEC §4.0)
    token_ticket: TicketRef | None = None     # ticket of a valid token
    token_role: str | None = None             # "c" or "a"
    token_agent: str | None = None            # the agent an agent token names (their address)
    forged_reference: bool = False            # one of "our" Message-IDs did not verify
    sender_contact: int | None = None
    recent: tuple[RecentTicket, ...] = ()     # the sender's tickets of the last hours
    automatic_sent: Mapping[str, int] = field(default_factory=dict)   # kind -> count, last hour
    suppressed: bool = False                  # the reply address bounced hard lately
    bounce_outbox: int | None = None          # outbox entry a bounce reports on
    bounce_ticket: int | None = None          # the ticket of that entry
    bounce_recipient: str | None = None       # the address that entry went to
    bounce_matched_by: str | None = None      # "verp" or "message_id"
    own_mail: bool = False                    # a mail we sent (its Message-ID is signed by us)


@dataclass(frozen=True)
class Match:
    """Stage 5: which ticket the message continues, and how we know."""

    ticket: TicketRef | None
    matched_by: str | None                    # "token", "references", "subject_tag" or None


@dataclass(frozen=True)
class Decision:
    """Stage 6: what to do with the message, and the named rules that led there."""

    action: str
    queue: str | None = None
    ticket: int | None = None
    reason: str | None = None
    matched_by: str | None = None
    new_status: str | None = None
    priority: str | None = None
    duplicate_of: int | None = None           # message row of the first copy
    visibility: str = "public"                # "automatic" for an out-of-office on a ticket
    flags: tuple[str, ...] = ()               # added to the ticket: auto, unauthenticated, ...
    linked_ticket: int | None = None          # the closed ticket a new one follows up
    events: tuple["Event", ...] = ()          # notices to send because of this mail
    bounce_outbox: int | None = None          # outbox entry to mark failed
    suppress: tuple[str, ...] = ()            # addresses that bounced hard
    changes: tuple[tuple[str, Any], ...] = () # ticket fields an agent's commands set
    tags: tuple[str, ...] = ()                # tags they add
    requester: str | None = None              # #requester: the customer an agent's new ticket is for
    participants: tuple[str, ...] = ()        # addresses an agent brought in (Cc)
    rule_hits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """A notice the notifier renders and sends (SPEC §6.1)."""

    kind: str                                 # ticket_received, reply_rejected, flood_notice, ...
    audience: str                             # "customer" or "agents"
    recipient: str | None = None              # the customer's address; agents are chosen later
    ticket: int | None = None                 # None: the ticket this mail opens (its requester
    automatic: bool = True                    #   gets the link); automatic notices count
    link_contact: int | None = None           #   against the per-hour limit (SPEC §4.4)
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """A message after stages 2-3: stored raw, parsed (or why it could not be)."""

    inbound: Inbound
    raw_sha256: str | None
    parsed: ParsedMail | None = None
    failure: str | None = None        # quarantine reason when parsing failed
    detail: str = ""
    unavailable: str | None = None    # the raw store could not be written
    dedup_key: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What an inbound path reports for one message once it is committed."""

    source: str
    message_id: str | None
    action: str | None
    ticket: int | None = None
    reason: str | None = None
    temporary_failure: bool = False           # storage down: SMTP 451, IMAP untouched, exit 75

    def as_json(self) -> dict:
        return {"source": self.source, "message_id": self.message_id,
                "action": self.action, "ticket": self.ticket, "reason": self.reason}
