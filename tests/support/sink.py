"""A real SMTP server that keeps what mailgate sends: the relay of the tests.
It can refuse recipients (5xx), defer them (4xx), or be stopped and started
again on the same port to play a relay that is down."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


@dataclass(frozen=True)
class Delivery:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


class SmtpSink:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.deliveries: list[Delivery] = []
        self.refuse: dict[str, str] = {}        # address -> reply, e.g. "550 5.1.1 no such user"
        self.on_delivery: list = []              # called with each Delivery before the 250
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # -- aiosmtpd handler hooks -------------------------------------------------

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        delivery = Delivery(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.content)
        with self._lock:
            self.deliveries.append(delivery)
        for hook in self.on_delivery:
            hook(delivery)
        return "250 OK: queued"

    # -- control ----------------------------------------------------------------

    def start(self) -> "SmtpSink":
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True,
                                      decode_data=False)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        with self._lock:
            found = list(self.deliveries)
        return [d.message for d in found if to is None or to in d.rcpt_tos]

    def wait_for(self, count: int, to: str | None = None, timeout: float = 30.0) -> list[EmailMessage]:
        """The first `count` mails (to `to`), once they have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(to)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages(to))} mail(s) arrived{' for ' + to if to else ''}, "
                             f"expected {count} within {timeout:.0f} s")
