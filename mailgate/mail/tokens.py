"""Signed identifiers (SPEC §4.0): reply tokens in plus-addresses, our
Message-IDs, VERP return paths and ticket links. Each is HMAC-SHA256 under
the configured secret, truncated; the previous secret is still accepted for
a while after a change. Lowercase base32, since MTAs may case-fold local parts.

  reply token   "mg" + version + base32(ticket, role, id) + base32(mac)   support+<token>@domain
  Message-ID    <mg.<ticket>.<outbox id>.<mac>@domain>
  VERP          bounces+<outbox id>-<mac>@domain
  link          <portal>/t/<ticket>?k=<base32(ticket, contact, expiry day)><mac>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from datetime import date, datetime, timedelta

TOKEN_PREFIX = "mg"
_ROLES = {0: "c", 1: "a"}          # contact (customer) or agent
_EPOCH = date(2020, 1, 1)          # link expiry is counted in days from here
_MESSAGE_ID = re.compile(r"^<mg\.(\d{1,12})\.(\d{1,12})\.([a-z2-7]{10})@([^<>@\s]+)>$")
_B32 = re.compile(r"^[a-z2-7]+$")


@dataclass(frozen=True)
class ReplyClaim:
    """What a valid reply token says: whose answer to which ticket."""

    ticket: int
    role: str                      # "c" (contact) or "a" (agent)
    ident: int                     # contact id or agent number


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


class Signer:
    def __init__(self, secret: str, previous: str = "", previous_until: date | None = None):
        self._keys = [secret.encode()]
        self._previous = previous.encode() if previous else None
        self._previous_until = previous_until

    def _mac(self, key: bytes, purpose: str, payload: bytes, size: int) -> str:
        return _b32(hmac.new(key, purpose.encode() + b"\0" + payload, hashlib.sha256).digest())[:size]

    @staticmethod
    def _version(key: bytes) -> str:
        return _b32(hashlib.sha256(b"mailgate-key" + key).digest())[0]

    def _keys_for(self, today: date) -> list[bytes]:
        keys = list(self._keys)
        if self._previous and (self._previous_until is None or today <= self._previous_until):
            keys.append(self._previous)
        return keys

    def _verify(self, purpose: str, payload: bytes, mac: str, today: date,
                version: str | None = None) -> bool:
        for key in self._keys_for(today):
            if version is not None and self._version(key) != version:
                continue
            if hmac.compare_digest(self._mac(key, purpose, payload, len(mac)), mac):
                return True
        return False

    # -- reply tokens --------------------------------------------------------

    def reply_token(self, ticket: int, role: str, ident: int) -> str:
        payload = struct.pack(">IBI", ticket, {"c": 0, "a": 1}[role], ident)
        key = self._keys[0]
        return TOKEN_PREFIX + self._version(key) + _b32(payload) + self._mac(key, "reply", payload, 13)

    @staticmethod
    def looks_like_token(detail: str) -> bool:
        """Meant as a token (ours or forged), as opposed to a plain alias such as support+urgent@."""
        return detail.startswith(TOKEN_PREFIX) and len(detail) > 12

    def read_reply_token(self, detail: str, today: date) -> ReplyClaim | None:
        """The claim of a valid token; None if it does not verify (forged,
        mangled, signed with a retired secret)."""
        body = detail[len(TOKEN_PREFIX):]
        if len(body) != 29 or not _B32.match(body):
            return None
        version, payload_text, mac = body[0], body[1:16], body[16:]
        try:
            payload = _unb32(payload_text)[:9]
        except ValueError:
            return None
        # One spelling per token: trailing bits of the base32 text must be zero.
        if len(payload) != 9 or _b32(payload) != payload_text or \
                not self._verify("reply", payload, mac, today, version):
            return None
        ticket, role, ident = struct.unpack(">IBI", payload)
        if role not in _ROLES:
            return None
        return ReplyClaim(ticket, _ROLES[role], ident)

    # -- Message-IDs ---------------------------------------------------------

    def message_id(self, ticket: int, outbox_id: int, domain: str) -> str:
        payload = f"{ticket}.{outbox_id}".encode()
        return f"<mg.{ticket}.{outbox_id}.{self._mac(self._keys[0], 'msgid', payload, 10)}@{domain}>"

    def read_message_id(self, message_id: str, today: date) -> tuple[int, int] | None | bool:
        """(ticket, outbox id) of one of our Message-IDs; False if it has our
        form but a wrong signature (forged); None if it is not ours."""
        match = _MESSAGE_ID.match(message_id)
        if not match:
            return None
        ticket, outbox_id, mac = int(match.group(1)), int(match.group(2)), match.group(3)
        if not self._verify("msgid", f"{ticket}.{outbox_id}".encode(), mac, today):
            return False
        return ticket, outbox_id

    # -- VERP return paths ---------------------------------------------------

    def verp_detail(self, outbox_id: int) -> str:
        return f"{outbox_id}-{self._mac(self._keys[0], 'verp', str(outbox_id).encode(), 8)}"

    def read_verp_detail(self, detail: str, today: date) -> int | None:
        outbox_id, _, mac = detail.partition("-")
        if not outbox_id.isdigit() or len(outbox_id) > 12 or len(mac) != 8:
            return None
        return int(outbox_id) if self._verify("verp", outbox_id.encode(), mac, today) else None

    # -- links to a ticket ---------------------------------------------------

    def link_key(self, ticket: int, contact: int, expires: date) -> str:
        payload = struct.pack(">IIH", ticket, contact, (expires - _EPOCH).days)
        return _b32(payload) + self._mac(self._keys[0], "link", payload, 10)

    def link(self, portal_url: str, ticket: int, contact: int, now: datetime, days: int) -> str:
        return f"{portal_url}/t/{ticket}?k={self.link_key(ticket, contact, now.date() + timedelta(days=days))}"

    def read_link_key(self, key: str, today: date) -> tuple[int, int] | None:
        """(ticket, contact) of a valid, unexpired link key."""
        if len(key) != 26 or not _B32.match(key):
            return None
        try:
            payload = _unb32(key[:16])[:10]
        except ValueError:
            return None
        if len(payload) != 10 or _b32(payload) != key[:16] or \
                not self._verify("link", payload, key[16:], today):
            return None
        ticket, contact, day = struct.unpack(">IIH", payload)
        return (ticket, contact) if today <= _EPOCH + timedelta(days=day) else None
