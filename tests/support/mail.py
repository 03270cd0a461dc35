"""Building test messages with the standard library."""

from __future__ import annotations

from email.message import EmailMessage
from html import escape
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


def client_reply(received: EmailMessage, sender: str, words: str, html: bool = False) -> EmailMessage:
    """What a mail client sends when its user presses Reply on a mail we
    sent: to its Reply-To, threaded on it, the words on top and the mail
    quoted below (as HTML only, the way Outlook can, when `html`)."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = received["Reply-To"] or received["From"]
    reply["Subject"] = f"Re: {received['Subject']}"
    reply["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or "example.org")
    reply["In-Reply-To"] = received["Message-ID"]
    reply["References"] = f"{received['References'] or ''} {received['Message-ID']}".strip()
    quoted_text = received.get_body(("plain",)).get_content()
    if html:
        paragraphs = "".join(f"<p>{line}</p>" for line in words.splitlines() if line.strip())
        reply.set_content(f"<html><body>{paragraphs}<div id=\"divRplyFwdMsg\"><hr><b>From:</b> Support"
                          f"</div><div>{escape(quoted_text)}</div></body></html>", subtype="html")
        return reply
    quoted = "\n".join("> " + line for line in quoted_text.splitlines())
    reply.set_content(f"{words}\n\nOn Mon, Support wrote:\n{quoted}\n")
    return reply
