"""The SMTP and LMTP listeners (aiosmtpd): RCPT checked against our addresses,
DATA read in large chunks, 250 only once the message is committed.

aiosmtpd reads DATA one line at a time with a 1 KB stream buffer, which costs
about 40 µs of CPU per KB and holds the event loop for a second on a 20 MB
mail (aiosmtpd #293). We read DATA in chunks up to the next ".\\r\\n" instead;
everything else is aiosmtpd's own protocol code.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from datetime import datetime, timezone
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from email.utils import format_datetime
from typing import Awaitable, Callable

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailgate.domain import Inbound, Outcome
from mailgate.ingest import replies
from mailgate.mail.addresses import OurAddresses
from mailgate.mail.headers import MAX_ADDRESS

log = logging.getLogger("mailgate.smtp")

Submit = Callable[[Inbound], Awaitable[Outcome]]
_UNSAFE_TRACE = re.compile(r"[^\x21-\x7e]|[()<>;\\]")


class _Faster:
    """aiosmtpd's SMTP with DATA read in chunks, and addresses parsed without
    building a class on every MAIL and RCPT."""

    # Also the StreamReader buffer: commands longer than this get "500 Command
    # line too long"; DATA is read in pieces of up to this size.
    line_length_limit = 64 * 1024

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        trace = self.event_handler.trace_header(self)
        content = await self._read_content(trace)
        if content is None:
            self._set_post_data_state()
            await self.push(replies.ERR_TOO_BIG)
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

    async def _read_content(self, trace: bytes) -> bytes | None:
        """The message with `trace` in front, dot-unstuffed (RFC 5321 §4.5.2);
        None if it exceeded the size limit (read to its end all the same)."""
        buf = bytearray(trace)          # ends with CRLF: the line end before line one
        body_start, limit = len(trace), self.data_size_limit
        too_big = False
        while True:
            try:
                chunk = await self._reader.readuntil(b".\r\n")
            except asyncio.LimitOverrunError as exc:
                # No ".\r\n" within the buffer: take what cannot be part of one.
                chunk = await self._reader.read(exc.consumed)
            except asyncio.IncompleteReadError:
                raise ConnectionResetError("connection closed during DATA") from None
            self._reset_timeout()
            buf += chunk
            ended = chunk.endswith(b".\r\n") and buf[-5:-3] == b"\r\n"   # a line of just "."
            too_big = too_big or bool(limit) and len(buf) - body_start - 3 * ended > limit
            if ended:
                break
            if too_big:
                del buf[:-5]            # keep only what the end test needs
        if too_big:
            return None
        return bytes(memoryview(buf)[:-3]).replace(b"\r\n.", b"\r\n")

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd 1.4 defines a typing.Protocol class inside this method, which
        # costs about 40 µs per call; the parsing below is the same.
        if not arg:
            return "", ""
        try:
            if arg.lstrip().startswith("<"):
                address, rest = get_angle_addr(arg)
            else:
                address, rest = get_addr_spec(arg)
        except HeaderParseError:
            return None, None
        addr = address.addr_spec
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, rest


class MailgateSMTP(_Faster, SMTP):
    pass


class MailgateLMTP(_Faster, LMTP):
    pass


class IngestHandler:
    """aiosmtpd handler: our recipients only, and a reply after the commit."""

    def __init__(self, ours: OurAddresses, submit: Submit, *, protocol: str,
                 hostname: str, max_recipients: int):
        self.ours = ours
        self.submit = submit
        self.protocol = protocol          # "smtp" or "lmtp"
        self.hostname = hostname
        self.max_recipients = max_recipients

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return replies.ERR_TOO_MANY_RCPT
        if len(address) > MAX_ADDRESS or self.ours.classify(address) is None:
            # Never relay (SPEC §3.1): anything that is not ours is refused here.
            return replies.ERR_UNKNOWN_RCPT.format(address=_UNSAFE_TRACE.sub("", address)[:200])
        envelope.rcpt_tos.append(address)
        return replies.RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # aiosmtpd reports the null reverse-path (bounces, auto-replies) as "<>".
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from[:MAX_ADDRESS]
        inbound = Inbound(raw=envelope.original_content, source=self.protocol,
                          received_at=datetime.now(timezone.utc), mail_from=mail_from,
                          rcpt_tos=tuple(envelope.rcpt_tos))
        outcome = await self.submit(inbound)
        status = replies.ERR_451 if outcome.temporary_failure else replies.DELIVERED
        if self.protocol == "lmtp":
            # RFC 2033: one reply per accepted recipient. aiosmtpd sends one in
            # all, and Postfix then times out and delivers again.
            return "\r\n".join(status for _ in envelope.rcpt_tos)
        return status

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default is a permanent "500" that also leaks the error text.
        log.error("error in SMTP session: %r", error, exc_info=error)
        return replies.ERR_451

    def trace_header(self, server: SMTP) -> bytes:
        """Return-Path and Received, as a final delivery adds them (RFC 5321 §4.4)."""
        session, envelope = server.session, server.envelope
        helo = _UNSAFE_TRACE.sub("", session.host_name or "unknown")[:100] or "unknown"
        peer = session.peer[0] if isinstance(session.peer, tuple) else "unknown"
        protocol = "LMTP" if self.protocol == "lmtp" else "ESMTP" if session.extended_smtp else "SMTP"
        if session.ssl is not None:
            protocol += "S"
        sender = _UNSAFE_TRACE.sub("", envelope.mail_from or "")[:300]
        stamp = format_datetime(datetime.now(timezone.utc))
        return (f"Return-Path: <{sender}>\r\n"
                f"Received: from {helo} ([{peer}])\r\n\tby {self.hostname} (mailgate) "
                f"with {protocol}; {stamp}\r\n").encode("utf-8", "replace")


async def start_server(handler: IngestHandler, listen: str, *, data_size_limit: int,
                       tls_context: ssl.SSLContext | None = None) -> asyncio.AbstractServer:
    """Listen on HOST:PORT with the SMTP or LMTP protocol of `handler`."""
    host, _, port = listen.rpartition(":")
    protocol_class = MailgateLMTP if handler.protocol == "lmtp" else MailgateSMTP
    loop = asyncio.get_running_loop()

    def factory():
        return protocol_class(handler, hostname=handler.hostname, ident="mailgate",
                              data_size_limit=data_size_limit, enable_SMTPUTF8=True,
                              decode_data=False, tls_context=tls_context, loop=loop)

    return await loop.create_server(factory, host=host.strip("[]"), port=int(port))
