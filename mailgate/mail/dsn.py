"""Delivery status notifications (RFC 3464): which recipients failed, and
whether for good (5.x.x) or for now (4.x.x). The email package parses the
message/delivery-status part into one block per recipient."""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser

from mailgate.domain import FailedRecipient

_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
_MSGID = re.compile(r"<[^<>\s]{1,500}>")


def failed_recipients(msg: Message, x_failed: tuple[str, ...]) -> tuple[FailedRecipient, ...]:
    """The recipients a bounce reports as failed (Action: failed, or listed
    in X-Failed-Recipients as Exim does)."""
    found: dict[str, FailedRecipient] = {}
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        # The per-message block comes first and names no recipient; some
        # MTAs leave it out, so every block is read.
        for block in blocks if isinstance(blocks, list) else ():
            _add(found, block)
    if not found and msg.get_content_type() == "multipart/report" and not msg.is_multipart():
        # The report's structure is broken (a mangled boundary): its
        # per-recipient fields are still there as text.
        body = msg.get_payload(decode=True) or b""
        for chunk in re.split(r"\r?\n\s*\r?\n", body.decode("utf-8", "replace")):
            block = HeaderParser().parsestr(chunk.strip() + "\n", headersonly=True)
            _add(found, block)
    for value in x_failed:
        for address in re.split(r"[\s,]+", value):
            address = _address(address)
            if address and address not in found:
                found[address] = FailedRecipient(address, "", True)
    return tuple(found.values())


def _add(found: dict[str, FailedRecipient], block: Message) -> None:
    """Record one per-recipient block if it reports a failure."""
    action = str(block.get("action", "")).strip().lower()
    recipient = _address(str(block.get("final-recipient") or block.get("original-recipient") or ""))
    if not recipient or action not in ("failed", ""):
        return
    status = _STATUS.search(str(block.get("status", "")))
    code = status.group(0) if status else ""
    found[recipient] = FailedRecipient(recipient, code, not code or code.startswith("5"))


def _address(value: str) -> str:
    """'rfc822; user@example.com' -> 'user@example.com'."""
    value = value.partition(";")[2] if ";" in value else value
    value = value.strip().strip("<>").lower()
    return value if "@" in value and len(value) <= 320 else ""


def returned_message_id(msg: Message) -> str | None:
    """The Message-ID of the mail a report returns (its message/rfc822 or
    text/rfc822-headers part): a bounce that lost our VERP address still
    names the mail it is about."""
    if msg.get_content_type() != "multipart/report":
        return None
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and isinstance(part.get_payload(), list) and part.get_payload():
            value = part.get_payload()[0].get("message-id", "")
        elif kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True) or b""
            value = HeaderParser().parsestr(payload.decode("utf-8", "replace"), headersonly=True).get("message-id", "")
        else:
            continue
        found = _MSGID.search(str(value))
        if found:
            return found.group(0)
    return None
