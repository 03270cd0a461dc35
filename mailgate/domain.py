"""Typed data handed from one ingest stage to the next (see STYLE.md, "The way
a message travels"): Inbound -> ParsedMail -> Candidates -> Match -> Decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

# Actions reported by `mailgate ingest --json` and stored with each message.
NEW_TICKET = "new_ticket"
COMMENT = "comment"
DUPLICATE = "duplicate"
QUARANTINED = "quarantined"
REJECTED = "rejected"
BOUNCE = "bounce"

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
    visible_text: str | None = None   # filled by the conversation stage
    language: str | None = None


@dataclass(frozen=True)
class TicketRef:
    number: int
    status: str
    queue: str


@dataclass(frozen=True)
class Candidates:
    """Stage 4: what the database knows that bears on this message (read only)."""

    duplicate_of: int | None = None           # message row id with the same dedup key
    duplicate_ticket: int | None = None
    referenced: tuple[TicketRef, ...] = ()    # tickets of In-Reply-To/References, best first
    tagged: TicketRef | None = None           # ticket named by the subject tag
    tag_number: int | None = None             # number in the subject tag, even if unknown


@dataclass(frozen=True)
class Match:
    """Stage 5: which ticket the message continues, and how we know."""

    ticket: TicketRef | None
    matched_by: str | None                    # "references", "subject_tag" or None


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
    rule_hits: tuple[str, ...] = ()


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
