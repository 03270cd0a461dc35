"""A customer's mail server with an out-of-office auto-responder: a real
aiosmtpd server that answers every mail it receives by sending a reply over
SMTP to the helpdesk, as badly behaved responders do when `polite` is off
(no Auto-Submitted, no In-Reply-To, a text that differs every time)."""

from __future__ import annotations

import secrets
import smtplib
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import make_msgid

from aiosmtpd.controller import Controller

from tests.support.servers import free_port

_WORDS = ("riunione", "progetto", "consegna", "ritorno", "ufficio", "ferie", "urgente", "collega",
          "telefono", "lunedì", "settimana", "cliente", "contratto", "fattura", "viaggio", "sede")


class OutOfOfficeServer:
    def __init__(self, address: str, helpdesk_port: int, polite: bool):
        self.address = address
        self.helpdesk_port = helpdesk_port
        self.polite = polite
        self.received: list[EmailMessage] = []
        self.sent = 0
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "OutOfOfficeServer":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    async def handle_DATA(self, server, session, envelope) -> str:
        original = message_from_bytes(envelope.content)
        self.received.append(original)
        answer = self._answer(original, envelope.mail_from)
        with smtplib.SMTP("127.0.0.1", self.helpdesk_port, timeout=30) as smtp:
            smtp.send_message(answer, from_addr=self.address, to_addrs=[answer["To"]])
        self.sent += 1
        return "250 OK"

    def _answer(self, original, envelope_sender: str) -> EmailMessage:
        reply = EmailMessage()
        reply["From"] = self.address
        reply["To"] = original.get("Reply-To") or original["From"] or envelope_sender
        reply["Message-ID"] = make_msgid(domain="customer.example")
        if self.polite:
            reply["Subject"] = f"Risposta automatica: {original['Subject']}"
            reply["Auto-Submitted"] = "auto-replied"
            reply["In-Reply-To"] = original["Message-ID"]
            reply.set_content("Sono fuori ufficio fino a lunedì.\n")
        else:
            reply["Subject"] = "Assente"
            words = " ".join(secrets.choice(_WORDS) for _ in range(40))
            reply.set_content(f"Sono fuori ufficio. {words}\n")
        return reply
