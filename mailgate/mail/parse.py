"""Raw bytes -> ParsedMail: mail-parser for the MIME structure, bodies and
attachments; our own header decoding, which repairs broken charsets."""

from __future__ import annotations

import base64
import email
import hashlib
import mimetypes
import re
from email.message import Message
from email.parser import HeaderParser

import mailparser
from pathvalidate import sanitize_filename

from mailgate.domain import AttachmentPart, ParsedMail
from mailgate.mail import charsets, headers as hdr, html as htmlbody
from mailgate.mail.dsn import failed_recipients, returned_message_id
from mailgate.mail.language import detect_language
from mailgate.mail.replytext import visible_text

_MAX_REFERENCES = 100
_GENERATED_NAME = re.compile(r"[a-z]{10}\.(?:txt|rtf)")   # mail-parser's name for unnamed parts
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")
# Python's own table only: mimetypes.guess_extension() would read the host's
# /etc/mime.types, and names would differ from one machine to the next.
_MIME_TYPES = mimetypes.MimeTypes()
_CID_FILENAME = re.compile(r"^([^@/\\]+\.[A-Za-z0-9]{1,5})@")  # Outlook: "image001.png@01D…"


class _MailParser(mailparser.MailParser):
    """mail-parser without the two dictionaries of every header and part
    (`mail`, `mail_partial`) that parse() builds last: nothing here reads them,
    and they cost a fifth of the parse of a small mail."""

    def _make_mail(self, complete=True):
        return {}


class ParseError(Exception):
    """The message cannot be understood; it goes to quarantine with this reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_mail(raw: bytes, *, max_attachment_size: int) -> ParsedMail:
    """Parse one message. Raises ParseError for what no reading can repair."""
    try:
        msg = email.message_from_bytes(raw)        # compat32, as mail-parser builds it
        headers = hdr.raw_headers(msg)
        # mail-parser parses every Received header eagerly, at about 70 µs each
        # (a mail through a few relays has five to ten); nothing here needs
        # them parsed, and the raw mail keeps them.
        del msg["received"]
        parser = _MailParser(msg)
    except (RecursionError, mailparser.exceptions.MailParserRecursionError):
        raise ParseError("parse_error:nesting_too_deep") from None
    fields = _address_fields(parser, headers)
    from_name, from_addr = hdr.sender(headers, fields["from"])
    html_raw = _repaired("\n".join(parser.text_html), msg, "html") or None
    text = _repaired("\n\n".join(_lf(p) for p in parser.text_plain), msg, "plain")
    if not text.strip() and html_raw:
        text = htmlbody.to_text(html_raw)
    html = hdr.clean(htmlbody.sanitise(html_raw)) if html_raw else None
    attachments = tuple(_attachments(parser.attachments, max_attachment_size))
    subject = hdr.text(hdr.first(headers, "subject"))
    date_raw = hdr.first(headers, "date")
    visible = visible_text(text, html_raw)
    return ParsedMail(
        message_id=hdr.first_id(hdr.first(headers, "message-id")),
        from_addr=from_addr, from_name=from_name,
        reply_to=tuple(a for _, a in hdr.addresses(headers, "reply-to", fields["reply-to"])),
        to=tuple(a for _, a in hdr.addresses(headers, "to", fields["to"])),
        cc=tuple(a for _, a in hdr.addresses(headers, "cc", fields["cc"])),
        subject=subject, date=hdr.date(date_raw),
        in_reply_to=tuple(hdr.MSGID.findall(hdr.first(headers, "in-reply-to")))[:10],
        references=tuple(hdr.MSGID.findall(" ".join(headers.get("references", ()))))[-_MAX_REFERENCES:],
        text=text, html=html, visible_text=visible, attachments=attachments,
        language=detect_language(visible) or detect_language(subject),
        headers=headers,
        defects=tuple(sorted(parser.defects_categories)),
        failed_recipients=failed_recipients(msg, headers.get("x-failed-recipients", ())),
        returned_message_id=returned_message_id(msg),
        content_digest=_content_digest(subject, from_addr, date_raw, text, html, attachments),
    )


def _address_fields(parser, headers: hdr.Headers) -> dict[str, list | None]:
    """mail-parser's reading of the address fields, except where the raw field
    held 8-bit bytes: mail-parser drops those, our headers repaired them."""
    fields = {}
    for name, attribute in (("from", "from_"), ("reply-to", "reply_to"), ("to", "to"), ("cc", "cc")):
        raw = parser.message.get_all(name) or []
        clean_ascii = all(isinstance(value, str) and value.isascii() for value in raw)
        fields[name] = (getattr(parser, attribute) or None) if clean_ascii else None
    return fields


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").strip("\n")


def _repaired(text: str, msg: Message, subtype: str) -> str:
    """Body text again from the part bytes when the charset was missing or
    wrong and decoding left U+FFFD marks (8-bit Latin-1 or KOI8-R without a
    charset parameter, say)."""
    if "\ufffd" in text:
        parts = [charsets.decode_bytes(part.get_payload(decode=True) or b"", part.get_content_charset())
                 for part in msg.walk()
                 if part.get_content_type() == f"text/{subtype}" and not part.get_filename()
                 and part.get_content_disposition() != "attachment"]
        repaired = "\n\n".join(_lf(p) for p in parts)
        if repaired.count("\ufffd") < text.count("\ufffd"):
            text = repaired
    return hdr.clean(text)


def _attachments(found: list[dict], max_size: int):
    for index, item in enumerate(found, 1):
        payload = _payload(item)
        content_type = hdr.clean(item.get("mail_content_type") or "application/octet-stream").lower()
        content_id = hdr.clean(item.get("content-id") or "").strip().strip("<>") or None
        disposition = (item.get("content-disposition") or "").lower()
        name = _filename(item.get("filename") or "", disposition, content_id, content_type, payload)
        keep = len(payload) <= max_size
        yield AttachmentPart(
            filename=name or f"attachment-{index}{_MIME_TYPES.guess_extension(content_type) or '.bin'}",
            content_type=content_type, size=len(payload), sha256=hashlib.sha256(payload).hexdigest(),
            content_id=content_id, inline=bool(content_id) and not disposition.startswith("attachment"),
            payload=payload if keep else None, stored=keep)


def _payload(item: dict) -> bytes:
    payload = item.get("payload") or ""
    if not item.get("binary"):
        return payload.encode("utf-8", "surrogateescape")
    try:
        return base64.b64decode(payload)
    except ValueError:
        # Truncated or badly padded base64, as broken senders write it: keep
        # every complete quantum instead of losing the attachment.
        data = _NOT_BASE64.sub("", payload)
        return base64.b64decode(data[: len(data) - len(data) % 4])


def _filename(name: str, disposition: str, content_id: str | None, content_type: str,
              payload: bytes) -> str:
    """A name safe on every file system and in a download header; never a path.
    Unnamed parts are named from what they hold where possible."""
    if content_id and name.strip("<>") == content_id or (
            _GENERATED_NAME.fullmatch(name) and "name" not in disposition):
        name = ""
    if not name and content_id:
        match = _CID_FILENAME.match(content_id)
        name = match.group(1) if match else ""
    if not name and content_type == "message/rfc822":
        subject = hdr.text(HeaderParser().parsestr(payload.decode("utf-8", "replace")).get("subject", ""))
        name = f"{subject}.eml" if subject else ""
    name = hdr.text(name).replace("\\", "/").rsplit("/", 1)[-1]
    return sanitize_filename(name, replacement_text="_", platform="universal", max_len=200).lstrip(". ")


def _content_digest(subject, from_addr, date_raw, text, html, attachments) -> str:
    """What the author sent, without what transports add (Received, Delivered-To…):
    the same mail over SMTP and IMAP digests the same (SPEC §3.2)."""
    digest = hashlib.sha256()
    for part in (subject, from_addr or "", date_raw, text, html or ""):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    for attachment in attachments:
        digest.update(attachment.sha256.encode())
    return digest.hexdigest()
