"""Stage 9's input: the RFC 5322 bytes of one notification, from its
rendered parts and header facts. Pure: no clock, no I/O.

Every value a customer or a template could influence goes through
`one_line` before it becomes a header, and the email package encodes
non-ASCII names and subjects as RFC 2047 words, so nothing can add a header
line. multipart/alternative carries the text and the HTML part.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailgate.notify.render import Rendered, one_line

# An id with "=?" is dropped: the email package would decode it as an RFC 2047 word.
_MESSAGE_ID = re.compile(r"<(?:(?!=\?)[^<>\s]){1,250}>")
MAX_REFERENCES = 20                 # the root and the latest ones are what clients use


@dataclass(frozen=True)
class Headers:
    from_addr: str
    from_name: str
    to_addr: str
    to_name: str
    message_id: str
    date: datetime
    reply_to: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: str | None = None          # RFC 3834
    language: str | None = None


def needs_smtputf8(*addresses: str | None) -> bool:
    return any(a and not a.isascii() for a in addresses)


def compose(rendered: Rendered, headers: Headers) -> bytes:
    utf8 = needs_smtputf8(headers.from_addr, headers.to_addr, headers.reply_to)
    policy = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
    message = EmailMessage(policy=policy)
    message["From"] = _address(headers.from_name, headers.from_addr)
    message["To"] = _address(headers.to_name, headers.to_addr)
    if headers.reply_to:
        message["Reply-To"] = _address("", headers.reply_to)
    message["Subject"] = header_text(rendered.subject)
    message["Date"] = format_datetime(headers.date)
    message["Message-ID"] = headers.message_id
    references = [r for r in headers.references if _MESSAGE_ID.fullmatch(r)]
    if headers.in_reply_to and _MESSAGE_ID.fullmatch(headers.in_reply_to):
        message["In-Reply-To"] = headers.in_reply_to
        if headers.in_reply_to not in references:
            references.append(headers.in_reply_to)
    if references:
        kept = references if len(references) <= MAX_REFERENCES else \
            references[:1] + references[-(MAX_REFERENCES - 1):]
        message["References"] = " ".join(kept)
    if headers.auto_submitted:
        message["Auto-Submitted"] = headers.auto_submitted
    # Exchange and Outlook send no out-of-office or other automatic answer to it.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(rendered.text, cte="quoted-printable" if not utf8 else "8bit")
    message.add_alternative(rendered.html, subtype="html",
                            cte="quoted-printable" if not utf8 else "8bit")
    if headers.language:               # after set_content, which drops Content-* headers
        message["Content-Language"] = headers.language.replace("_", "-")
    return message.as_bytes()


def _address(name: str, addr_spec: str) -> Address:
    local, _, domain = addr_spec.rpartition("@")
    return Address(display_name=safe_name(name), username=local, domain=domain)


def safe_name(name: str) -> str:
    """A display name that stays a name: one line, and no "=?" that the email
    package would decode as an RFC 2047 word when it writes the header (a
    customer called "=?utf-8?q?x=0d=0aBcc:_y?=" would otherwise add a Bcc)."""
    return header_text(name)


def header_text(value: str) -> str:
    """One line, with every "=?" broken by a zero-width space: the email
    package decodes RFC 2047 words in a str it is given, so a subject
    "=?utf-8?q?x=0d=0aBcc:_y?=" would otherwise write a Bcc header."""
    return one_line(value).replace("=?", "=\u200b?")


def dkim_sign(raw: bytes, selector: str, domain: str, key: bytes) -> bytes:
    """The message with a DKIM-Signature (RFC 6376) over the headers a
    receiver shows and threads by."""
    import dkim

    signed = (b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"in-reply-to",
              b"references", b"mime-version", b"content-type", b"auto-submitted")
    signature = dkim.sign(raw, selector.encode(), domain.encode(), key,
                          include_headers=list(signed), linesep=b"\r\n")
    return signature + raw
