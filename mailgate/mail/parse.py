"""Raw bytes -> ParsedMail: mail-parser for the MIME structure, bodies and
attachments; header decoding with repair of the broken charsets real mail has."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from email.header import decode_header
from email.message import Message
from email.utils import parsedate_to_datetime
from datetime import timezone

import mailparser
from mailparser.utils import get_addresses
from pathvalidate import sanitize_filename

from mailgate.domain import AttachmentPart, ParsedMail
from mailgate.mail import charsets, html as htmlbody

_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_MAX_REFERENCES = 100
_GENERATED_NAME = re.compile(r"[a-z]{10}\.(?:txt|rtf)")   # mail-parser's name for unnamed parts
_WS = re.compile(r"\s+")


class ParseError(Exception):
    """The message cannot be understood; it goes to quarantine with this reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_mail(raw: bytes, *, max_attachment_size: int) -> ParsedMail:
    """Parse one message. Raises ParseError for what no reading can repair."""
    try:
        parser = mailparser.parse_from_bytes(raw)
    except mailparser.exceptions.MailParserRecursionError:
        raise ParseError("parse_error:nesting_too_deep") from None
    msg = parser.message
    if msg is None:
        raise ParseError("parse_error:empty")
    headers = _headers(msg)
    from_name, from_addr = _first_address(headers, "from")
    html_raw = _repaired("\n".join(parser.text_html), msg, "html") or None
    text = _repaired("\n\n".join(p.replace("\r\n", "\n").strip("\n") for p in parser.text_plain),
                     msg, "plain")
    if not text.strip() and html_raw:
        text = htmlbody.to_text(html_raw)
    html = _clean(htmlbody.sanitise(html_raw)) if html_raw else None
    attachments = tuple(_attachments(parser.attachments, max_attachment_size))
    subject = _one_line(_decode(headers.get("subject", ("",))[0]))
    date_raw = headers.get("date", ("",))[0]
    parsed = dict(
        message_id=_first_id(headers.get("message-id", ("",))[0]),
        from_addr=from_addr, from_name=from_name,
        reply_to=tuple(a for _, a in _addresses(headers, "reply-to")),
        to=tuple(a for _, a in _addresses(headers, "to")),
        cc=tuple(a for _, a in _addresses(headers, "cc")),
        subject=subject,
        date=_date(date_raw),
        in_reply_to=tuple(_MSGID.findall(headers.get("in-reply-to", ("",))[0]))[:10],
        references=tuple(_MSGID.findall(" ".join(headers.get("references", ()))))[-_MAX_REFERENCES:],
        text=text, html=html, attachments=attachments, headers=headers,
        defects=tuple(sorted(parser.defects_categories)),
    )
    digest = _content_digest(subject, from_addr, date_raw, text, html, attachments)
    return ParsedMail(**parsed, content_digest=digest)


def _headers(msg: Message) -> dict[str, tuple[str, ...]]:
    """Every header, lowercased name -> unfolded raw values (encoded words kept)."""
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        value = charsets.repair_8bit(str(value))
        out.setdefault(name.lower(), []).append(_clean(_WS.sub(" ", value).strip()))
    return {name: tuple(values) for name, values in out.items()}


def _repaired(text: str, msg: Message, subtype: str) -> str:
    """Body text again from the part bytes when the charset was missing or
    wrong and decoding left U+FFFD marks (8-bit Latin-1 or KOI8-R without a
    charset parameter, say)."""
    if "\ufffd" in text:
        parts = [charsets.decode_bytes(part.get_payload(decode=True) or b"", part.get_content_charset())
                 for part in msg.walk()
                 if part.get_content_type() == f"text/{subtype}" and not part.get_filename()
                 and part.get_content_disposition() != "attachment"]
        repaired = "\n\n".join(p.replace("\r\n", "\n").strip("\n") for p in parts)
        if repaired.count("\ufffd") < text.count("\ufffd"):
            text = repaired
    return _clean(text)


def _decode(value: str) -> str:
    """RFC 2047 encoded words -> text; unknown or lying charsets are repaired."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except (ValueError, IndexError):
        return value
    return "".join(chunk if isinstance(chunk, str) else charsets.decode_bytes(chunk, charset)
                   for chunk, charset in chunks)


def _addresses(headers: dict[str, tuple[str, ...]], name: str) -> list[tuple[str, str]]:
    found = []
    for value in headers.get(name, ()):
        for display, address in get_addresses(value, decode_names=True):
            address = _clean(address).strip().lower()
            if "@" in address:
                found.append((_one_line(_clean(display)), address))
    return found


def _first_address(headers: dict[str, tuple[str, ...]], name: str) -> tuple[str, str | None]:
    found = _addresses(headers, name)
    return found[0] if found else ("", None)


def _first_id(value: str) -> str | None:
    match = _MSGID.search(value)
    if match:
        return match.group(0)
    value = value.strip()
    if value and " " not in value and len(value) <= 498:
        return f"<{value}>"
    return None


def _date(value: str):
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:        # "-0000": time is UTC, zone unknown (RFC 5322 §3.3)
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed if 1970 <= parsed.year <= 9999 else None


def _attachments(found: list[dict], max_size: int):
    for index, item in enumerate(found, 1):
        payload = _payload(item)
        content_type = (item.get("mail_content_type") or "application/octet-stream").lower()
        content_id = (item.get("content-id") or "").strip().strip("<>") or None
        disposition = (item.get("content-disposition") or "").lower()
        name = _safe_filename(item.get("filename") or "", disposition, content_id,
                              content_type, index)
        sha = hashlib.sha256(payload).hexdigest()
        keep = len(payload) <= max_size
        yield AttachmentPart(
            filename=name, content_type=content_type, size=len(payload), sha256=sha,
            content_id=content_id, inline=bool(content_id) and not disposition.startswith("attachment"),
            payload=payload if keep else None, stored=keep)


def _payload(item: dict) -> bytes:
    payload = item.get("payload") or ""
    if item.get("binary"):
        return base64.b64decode(payload, validate=False)
    return payload.encode("utf-8", "surrogateescape")


def _safe_filename(name: str, disposition: str, content_id: str | None,
                   content_type: str, index: int) -> str:
    """A name safe on every file system and in a download header; never a path."""
    if content_id and name.strip("<>") == content_id or (
            _GENERATED_NAME.fullmatch(name) and "name" not in disposition):
        name = ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = sanitize_filename(_one_line(name), replacement_text="_", platform="universal",
                             max_len=200).lstrip(". ")
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index}{extension}"
    return name


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


def _one_line(value: str) -> str:
    return _WS.sub(" ", value).strip()


def _clean(value: str) -> str:
    """Text every database accepts: no NUL, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value
