"""Header fields as text: unfolding, RFC 2047 words, 8-bit bytes, addresses
with the recoveries real mail needs, Message-IDs and dates."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.header import decode_header
from email.message import Message
from email.utils import parsedate_to_datetime

from mailparser.utils import get_addresses

from mailgate.mail import charsets

Headers = dict[str, tuple[str, ...]]

MSGID = re.compile(r"<[^<>\s]{1,498}>")         # at most 500 characters with the brackets
MAX_ADDRESS = 320                                # RFC 5321 §4.5.3.1: 64 + 1 + 255
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_BARE_ADDRESS = re.compile(r"[^\s<>\"(),;:]+@[^\s<>\"(),;:]+\.[^\s<>\"(),;:]+")
# Local-only senders of delivery reports, e.g. "From: MAILER-DAEMON (Mail Delivery System)".
_SYSTEM_SENDER = re.compile(r"^\s*(mailer-daemon|postmaster)\s*(?:\((.*)\))?\s*$", re.IGNORECASE)


def raw_headers(msg: Message) -> Headers:
    """Every header, lowercased name -> unfolded values, encoded words kept."""
    out: dict[str, list[str]] = {}
    hint: list[str | None] = []          # the body charset, looked up only if needed
    for name, value in msg.raw_items():
        value = str(value)
        if not value.isascii():
            hint = hint or [_body_charset(msg)]
            value = charsets.repair_8bit(value, hint[0])
        value = _FOLD.sub("", value)
        out.setdefault(name.lower(), []).append(clean(value.strip()))
    return {name: tuple(values) for name, values in out.items()}


def _body_charset(msg: Message) -> str | None:
    """The charset of the first text part: senders of raw 8-bit headers use it there too."""
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            return part.get_content_charset()
    return None


def first(headers: Headers, name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def text(value: str) -> str:
    """An unstructured field (Subject) as one line of text."""
    return _LINE_BREAKS.sub(" ", decode(value)).strip()


def decode(value: str) -> str:
    """RFC 2047 encoded words -> text; unknown or lying charsets are repaired."""
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except (ValueError, IndexError):
        return value
    return clean("".join(chunk if isinstance(chunk, str) else charsets.decode_bytes(chunk, charset)
                         for chunk, charset in chunks))


def addresses(headers: Headers, name: str, parsed: list | None = None) -> list[tuple[str, str]]:
    """(display name, bare lowercased address) of every mailbox in the field.
    `parsed` is mail-parser's reading of the field, reused when it found any."""
    found = []
    for value in headers.get(name, ()) if not parsed else ():
        found += [(n, a) for n, a in get_addresses(value, decode_names=True) if "@" in a] or _recover(value)
    return [(text(clean(display)), clean(address).strip().lower())
            for display, address in (parsed or found) if "@" in address and len(address) <= MAX_ADDRESS]


def sender(headers: Headers, parsed_from: list | None = None) -> tuple[str, str | None]:
    """Who wrote the mail: From, or when it has no usable address (Outlook
    writes `From: "Name" <>`), Sender, Reply-To, then Return-Path."""
    from_field = addresses(headers, "from", parsed_from)
    if from_field:
        return from_field[0]
    system = _SYSTEM_SENDER.match(first(headers, "from"))
    if system:
        return text(system.group(2) or ""), system.group(1).lower()
    display = _display_only(first(headers, "from"))
    for name in ("sender", "reply-to", "return-path"):
        found = addresses(headers, name)
        if found:
            return display or found[0][0], found[0][1]
    return display, None


def first_id(value: str) -> str | None:
    """A Message-ID with its angle brackets, also when the sender left them out."""
    match = MSGID.search(value)
    if match:
        return match.group(0)
    value = value.strip()
    if value and " " not in value and len(value) <= 498:
        return f"<{value}>"
    return None


def date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:        # "-0000": the time is UTC, the zone unknown (RFC 5322 §3.3)
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed if 1970 <= parsed.year <= 9999 else None


def clean(value: str) -> str:
    """Text every database accepts: no NUL, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _recover(value: str) -> list[tuple[str, str]]:
    """`From: Test test@example.com` (no angle brackets): the address-looking
    word is the address, the rest the name."""
    match = None
    for match in _BARE_ADDRESS.finditer(value):
        pass
    if match is None:
        return []
    display = (value[:match.start()] + value[match.end():]).strip(" \"'<>")
    return [(display, match.group(0))]


def _display_only(value: str) -> str:
    """The display name of `"Name" <>`."""
    name = value.split("<", 1)[0].strip().strip('"').strip()
    return text(name)
