"""Stage 9's input: the RFC 5322 bytes of one notification, from its
rendered parts and header facts. Pure: no clock, no I/O.

Every value a customer or a template could influence goes through
`header_text` before it becomes a header (one line, no RFC 2047 word of its
own), Message-IDs must look like one, and non-ASCII names and subjects are
encoded as RFC 2047 words, so nothing can add a header line.
multipart/alternative carries the text and the HTML part.
"""

from __future__ import annotations

import email.charset
import email.policy
import re
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email import encoders
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

from mailgate.notify.render import Rendered, one_line

# An id with "=?" is dropped: the email package would decode it as an RFC 2047 word.
_MESSAGE_ID = re.compile(r"<(?:(?!=\?)[^<>\s]){1,250}>")
MAX_REFERENCES = 20                 # the root and the latest ones are what clients use
MAX_SUBJECT = 250                   # characters; clients show less
# The compat32 classes write what they are given (the values are made safe
# above) and are four times faster than EmailMessage, which parses every
# header value it is given.
_POLICY = email.policy.compat32.clone(linesep="\r\n")
# Not folded: the email package drops the quotes of a display name it folds
# ("Ivan, Bob <evil@…>, …" would become several addresses). Names are at most
# 200 characters and subjects are cut, so lines stay within RFC 5322's 998.
_UTF8_POLICY = email.policy.SMTPUTF8.clone(max_line_length=0)
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP


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


def compose(rendered: Rendered, headers: Headers,
            attachments: list[tuple[str, str, bytes]] = ()) -> bytes:
    """The mail; `attachments` are (file name, content type, bytes)."""
    fields = _fields(rendered, headers)
    if needs_smtputf8(headers.from_addr, headers.to_addr, headers.reply_to):
        return _as_utf8(fields, rendered, attachments)
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(rendered.text, "plain", _UTF8_QP))
    body.attach(MIMEText(rendered.html, "html", _UTF8_QP))
    message = body
    if attachments:
        message = MIMEMultipart("mixed")
        message.attach(body)
        for filename, content_type, payload in attachments:
            maintype, _, subtype = (content_type if "/" in content_type else "application/octet-stream").partition("/")
            part = MIMEBase(maintype, subtype)
            part.set_payload(payload)
            encoders.encode_base64(part)
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", one_line(filename)))
            message.attach(part)
    for name, value in fields:
        message[name] = _address(*value) if isinstance(value, tuple) else _text(value)
    return message.as_bytes(policy=_POLICY)


def _as_utf8(fields: list, rendered: Rendered, attachments) -> bytes:
    """An internationalised mail (RFC 6532) for an address that is not ASCII:
    headers in UTF-8 as they are, sent with SMTPUTF8."""
    message = EmailMessage(policy=email.policy.SMTPUTF8)
    for name, value in fields:
        if isinstance(value, tuple):
            local, _, domain = value[1].rpartition("@")
            value = Address(display_name=value[0], username=local, domain=domain)
        message[name] = value
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    for filename, content_type, payload in attachments:
        maintype, _, subtype = (content_type if "/" in content_type else "application/octet-stream").partition("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=one_line(filename))
    language = next((v for n, v in fields if n == "Content-Language"), None)
    if language:                      # set_content dropped it with the other Content-* fields
        del message["Content-Language"]
        message["Content-Language"] = language
    return message.as_bytes(policy=_UTF8_POLICY)


def _fields(rendered: Rendered, headers: Headers) -> list[tuple[str, str | tuple[str, str]]]:
    """The header fields, in order; address fields as (display name, address)."""
    fields: list = [("From", (header_text(headers.from_name), headers.from_addr)),
                    ("To", (header_text(headers.to_name), headers.to_addr))]
    if headers.reply_to:
        fields.append(("Reply-To", ("", headers.reply_to)))
    fields += [("Subject", header_text(rendered.subject)[:MAX_SUBJECT]), ("Date", format_datetime(headers.date)),
               ("Message-ID", headers.message_id)]
    references = [r for r in headers.references if _MESSAGE_ID.fullmatch(r)]
    if headers.in_reply_to and _MESSAGE_ID.fullmatch(headers.in_reply_to):
        fields.append(("In-Reply-To", headers.in_reply_to))
        if headers.in_reply_to not in references:
            references.append(headers.in_reply_to)
    if references:
        kept = references if len(references) <= MAX_REFERENCES else \
            references[:1] + references[-(MAX_REFERENCES - 1):]
        fields.append(("References", " ".join(kept)))
    if headers.auto_submitted:
        fields.append(("Auto-Submitted", headers.auto_submitted))
    # Exchange and Outlook send no out-of-office or other automatic answer to it.
    fields.append(("X-Auto-Response-Suppress", "All"))
    if headers.language and re.fullmatch(r"[A-Za-z]{2,3}([_-][A-Za-z]{2})?", headers.language):
        fields.append(("Content-Language", headers.language.replace("_", "-")))
    return fields


def _text(value: str) -> str | Header:
    """An unstructured header value: ASCII as it is, anything else as RFC 2047 words."""
    return value if value.isascii() else Header(value, "utf-8")


def _address(name: str, addr_spec: str) -> str:
    """"Name" <addr>, the name quoted or RFC 2047-encoded as needed."""
    if not name:
        return addr_spec
    if name.isascii():
        return formataddr((name, addr_spec))
    return f"{Header(name, 'utf-8').encode(maxlinelen=998)} <{addr_spec}>"


def header_text(value: str) -> str:
    """One line, and every "=?" broken by a zero-width space, so that text a
    customer typed as "=?utf-8?q?x=0d=0aBcc:_y?=" reaches the reader as that
    text and is never decoded as an RFC 2047 word (the email package's own
    header parser would decode it, and write the Bcc)."""
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
