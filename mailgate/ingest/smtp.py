"""The SMTP and LMTP listeners (aiosmtpd): RCPT checked against our addresses,
DATA read in large chunks, 250 only once the message is committed.

aiosmtpd reads DATA one line at a time with a 1 KB stream buffer, which costs
about 40 µs of CPU per KB and holds the event loop for a second on a 20 MB
mail (aiosmtpd #293). We read DATA in 64 KB pieces up to the "\\r\\n.\\r\\n"
that ends it instead; everything else is aiosmtpd's own protocol code. The
size limit is ours too, so that both its answers carry the enhanced code
SPEC §3.1 asks for (aiosmtpd says "552 Error: Too much mail data").
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
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from mailgate.domain import Inbound, Outcome
from mailgate.ingest import replies
from mailgate.mail.addresses import OurAddresses
from mailgate.mail.headers import MAX_ADDRESS

log = logging.getLogger("mailgate.smtp")

Submit = Callable[[Inbound], Awaitable[Outcome]]
_END = b"\r\n.\r\n"
_UNSAFE_TRACE = re.compile(r"[\x00-\x20\x7f()<>;\\]")
_SIZE = re.compile(r"SIZE=(\d{1,20})$")


class _Faster:
    """aiosmtpd's SMTP with DATA read in chunks, our size limit, one reply per
    recipient where LMTP wants it, and addresses parsed without building a
    class on every MAIL and RCPT."""

    # Also the StreamReader buffer: commands longer than this get "500 Command
    # line too long"; DATA is read in pieces of up to this size.
    line_length_limit = 64 * 1024
    per_recipient_replies = False

    @syntax("DATA")
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
        handler = self.event_handler
        with handler.receiving():
            content = await self._read_content(handler.trace_header(self), handler.max_message_size)
            if content is None:
                status = replies.ERR_TOO_BIG
            else:
                self.envelope.content = self.envelope.original_content = content
                status = await self._call_handler_hook("DATA")
        if self.per_recipient_replies and "\r\n" not in status:
            # RFC 2033: one reply per accepted recipient, failures included.
            status = "\r\n".join(status for _ in self.envelope.rcpt_tos)
        self._set_post_data_state()
        await self.push(status)

    async def _read_content(self, trace: bytes, limit: int) -> bytes | None:
        """The message with `trace` in front, dot-unstuffed (RFC 5321 §4.5.2);
        None if it exceeded `limit` (it is read to its end all the same)."""
        reader = self._reader
        buf = bytearray(trace)          # ends with CRLF: the line end before line one
        first = await reader.readexactly(1)
        if first == b".":
            first += await reader.readexactly(2)
            if first == b".\r\n":
                return bytes(buf)       # an empty message
        buf += first
        body_start, too_big = len(trace), False
        while True:
            # Everything up to "\r\n.\r\n", or (LimitOverrunError) as much as
            # cannot hold the start of it: never a line at a time.
            try:
                chunk = await reader.readuntil(_END)
            except asyncio.LimitOverrunError as exc:
                chunk = await reader.read(exc.consumed)
            self._reset_timeout()
            ended = chunk.endswith(_END)
            buf += chunk[:-3] if ended else chunk      # keep the last line's CRLF
            too_big = too_big or len(buf) - body_start > limit
            if ended:
                break
            if too_big:
                del buf[:]              # keep reading, keep nothing
        if too_big:
            return None
        return bytes(buf).replace(b"\r\n.", b"\r\n")

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
    per_recipient_replies = True


class IngestHandler:
    """aiosmtpd handler: our recipients only, and a reply after the commit."""

    def __init__(self, ours: OurAddresses, submit: Submit, *, protocol: str, hostname: str,
                 max_recipients: int, max_message_size: int):
        self.ours = ours
        self.submit = submit
        self.protocol = protocol          # "smtp" or "lmtp"
        self.hostname = hostname
        self.max_recipients = max_recipients
        self.max_message_size = max_message_size
        self.in_data = 0                  # sessions between "354" and their reply

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [responses[0], f"250-SIZE {self.max_message_size}", *responses[1:]]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        for option in mail_options:
            size = _SIZE.match(option)
            if size and int(size.group(1)) > self.max_message_size:
                return replies.ERR_TOO_BIG         # refused before a byte is sent
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return replies.ERR_TOO_MANY_RCPT
        if len(address) > MAX_ADDRESS or self.ours.classify(address) is None:
            # Never relay (SPEC §3.1): anything that is not ours is refused here.
            return replies.ERR_UNKNOWN_RCPT.format(address=_trace_safe(address)[:200])
        envelope.rcpt_tos.append(address)
        return replies.RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # aiosmtpd reports the null reverse-path (bounces, auto-replies) as "<>".
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from[:MAX_ADDRESS]
        inbound = Inbound(raw=envelope.original_content, source=self.protocol,
                          received_at=datetime.now(timezone.utc), mail_from=mail_from,
                          rcpt_tos=tuple(envelope.rcpt_tos))
        try:
            outcome = await self.submit(inbound)
        except Exception:                 # never a permanent failure for our own error
            log.exception("cannot ingest a message from %s", mail_from)
            return replies.ERR_451
        return replies.ERR_451 if outcome.temporary_failure else replies.DELIVERED

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default is a permanent "500" that also leaks the error text.
        log.error("error in SMTP session: %r", error, exc_info=error)
        return replies.ERR_451

    def receiving(self):
        """Count a session as busy while its data comes in (graceful stop waits)."""
        return _Busy(self)

    def trace_header(self, server: SMTP) -> bytes:
        """Return-Path and Received, as a final delivery adds them (RFC 5321 §4.4)."""
        session, envelope = server.session, server.envelope
        helo = _trace_safe(session.host_name or "unknown")[:100] or "unknown"
        peer = session.peer[0] if isinstance(session.peer, tuple) else "unknown"
        protocol = "LMTP" if self.protocol == "lmtp" else "ESMTP" if session.extended_smtp else "SMTP"
        if session.ssl is not None:
            protocol += "S"
        sender = envelope.mail_from if envelope.mail_from not in (None, "<>") else ""
        stamp = format_datetime(datetime.now(timezone.utc))
        # The sender's bytes go back as they came (invalid UTF-8 included), so
        # Return-Path names the same mailbox; only what could end the header goes.
        return (f"Return-Path: <{_trace_safe(sender)[:MAX_ADDRESS]}>\r\n"
                f"Received: from {helo} ([{peer}])\r\n\tby {self.hostname} (mailgate) "
                f"with {protocol}; {stamp}\r\n").encode("utf-8", "surrogateescape")


class _Busy:
    def __init__(self, handler: IngestHandler):
        self.handler = handler

    def __enter__(self):
        self.handler.in_data += 1

    def __exit__(self, *exc):
        self.handler.in_data -= 1
        return False


def _trace_safe(value: str) -> str:
    return _UNSAFE_TRACE.sub("", value)


async def start_server(handler: IngestHandler, listen: str,
                       tls_context: ssl.SSLContext | None = None) -> asyncio.AbstractServer:
    """Listen on HOST:PORT with the SMTP or LMTP protocol of `handler`."""
    host, _, port = listen.rpartition(":")
    protocol_class = MailgateLMTP if handler.protocol == "lmtp" else MailgateSMTP
    loop = asyncio.get_running_loop()

    def factory():
        # data_size_limit=None: the limit is the handler's (EHLO, MAIL SIZE=, DATA).
        return protocol_class(handler, hostname=handler.hostname, ident="mailgate",
                              data_size_limit=None, enable_SMTPUTF8=True,
                              decode_data=False, tls_context=tls_context, loop=loop)

    return await loop.create_server(factory, host=host.strip("[]"), port=int(port))
