"""A customer's out-of-office auto-responder: it answers every mail that
reaches the customer by sending a reply over SMTP to the helpdesk, as badly
behaved responders do when `polite` is off (no Auto-Submitted, no
In-Reply-To, a text that differs every time)."""

from __future__ import annotations

import secrets
import smtplib
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

_WORDS = ("riunione", "progetto", "consegna", "ritorno", "ufficio", "ferie", "urgente", "collega",
          "telefono", "lunedì", "settimana", "cliente", "contratto", "fattura", "viaggio", "sede")


class OutOfOfficeResponder:
    """Hooked into the relay sink: every mail for `address` that reaches it
    is answered at once, over SMTP, to the helpdesk."""

    def __init__(self, address: str, helpdesk_port: int, polite: bool):
        self.address = address
        self.helpdesk_port = helpdesk_port
        self.polite = polite
        self.received: list = []
        self.sent = 0

    def __call__(self, delivery) -> None:
        if self.address not in delivery.rcpt_tos:
            return
        original = message_from_bytes(delivery.raw)
        self.received.append(original)
        answer = self._answer(original, delivery.mail_from)
        with smtplib.SMTP("127.0.0.1", self.helpdesk_port, timeout=30) as smtp:
            smtp.send_message(answer, from_addr=self.address, to_addrs=[answer["To"]])
        self.sent += 1

    def _answer(self, original, envelope_sender: str) -> EmailMessage:
        reply = EmailMessage()
        reply["From"] = self.address
        # A polite responder answers the Reply-To; a naive one the From, as
        # if the mail had come from a person at that address.
        reply["To"] = (original.get("Reply-To") if self.polite else None) or \
            parseaddr(original["From"])[1] or envelope_sender
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
