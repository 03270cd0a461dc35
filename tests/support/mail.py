"""Building test messages with the standard library."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone


def message(*, sender: str = "Mario Rossi <mario@example.org>", to: str = "support@example.com",
            subject: str = "Non riesco ad accedere", body: str = "Buongiorno,\nnon riesco ad accedere.\n",
            message_id: str | None = None, in_reply_to: str | None = None,
            references: str | None = None, cc: str | None = None, headers: dict | None = None,
            date: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


def reply_to(original: EmailMessage, body: str = "Grazie, ora funziona.\n", **kwargs) -> EmailMessage:
    """A client's reply: Re: subject, In-Reply-To and References set."""
    return message(subject=f"Re: {original['Subject']}", body=body,
                   in_reply_to=original["Message-ID"], references=original["Message-ID"], **kwargs)
