"""Hostile and broken mail over real SMTP: every message is acknowledged and
becomes either a ticket or a quarantine entry with a reason; the server keeps
serving and its memory stays bounded."""

from __future__ import annotations

import base64
import os
import smtplib

from tests.support.mail import message

HEAD = (b"From: Tester <tester@example.org>\r\nTo: support@example.com\r\n"
        b"Date: Fri, 20 Nov 2026 10:00:00 +0100\r\n")


def nested(depth: int) -> bytes:
    inner = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for level in range(depth):
        b = b"b%d" % level
        inner = (b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n"
                 + inner + b"\r\n--" + b + b"--\r\n")
    return inner


def bad_mails() -> dict[str, bytes]:
    attachment = base64.encodebytes(os.urandom(30 * 1024 * 1024)).replace(b"\n", b"\r\n")
    parts = b"".join(b"--P\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(1000))
    return {
        "malformed_mime": HEAD + b"Subject: malformed\r\nContent-Type: multipart/mixed; boundary=\r\n"
                          b"\r\n--\r\nContent-Type: text/plain\r\n\r\nbody without end\r\n",
        "missing_message_id": HEAD + b"Subject: no id\r\n\r\nhello\r\n",
        "eight_bit_headers": (b"From: J\xfcrgen M\xfcller <juergen@example.de>\r\nTo: support@example.com\r\n"
                              b"Subject: Pr\xfcfung der Rechnung\r\n\r\nGr\xfc\xdfe\r\n"),
        "nul_bytes": HEAD + b"Subject: nul\x00 in subject\r\n\r\nbody\x00with\x00nul\r\n",
        "attachment_30mb": (HEAD + b"Subject: big attachment\r\nContent-Type: multipart/mixed; boundary=B\r\n"
                            b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--B\r\n"
                            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
                            b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n\r\n'
                            + attachment + b"--B--\r\n"),
        "thousand_parts": (HEAD + b"Subject: many parts\r\nContent-Type: multipart/mixed; boundary=P\r\n\r\n"
                           + parts + b"--P--\r\n"),
        "header_100kb": HEAD + b"Subject: long header\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\nbody\r\n",
        "nested_too_deep": HEAD + b"Subject: nested\r\n" + nested(1200),
        "long_identifiers": (b"From: Lungo <" + b"l" * 400 + b"@example.org>\r\nTo: support@example.com\r\n"
                             b"Subject: long ids\r\nMessage-ID: <" + b"m" * 2000 + b"@example.org>\r\n"
                             b"In-Reply-To: <" + b"r" * 3000 + b"@example.org>\r\n\r\nbody\r\n"),
        "nul_in_mime_parameters": (HEAD + b"Subject: nul params\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
                                   b"--B\r\nContent-Type: text/plain\r\n\r\nsee image\r\n--B\r\n"
                                   b"Content-Type: image/pn\x00g\r\nContent-ID: <im\x00g1@x>\r\n"
                                   b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--B--\r\n"),
        "garbage": os.urandom(4096).replace(b"\r", b"").replace(b"\n.", b"\n,"),
    }


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_each_bad_mail_is_a_ticket_or_quarantined_with_a_reason(mailgate_server, cli):
    mails = bad_mails()
    with smtplib.SMTP("127.0.0.1", mailgate_server.smtp_port, timeout=120) as smtp:
        for name, raw in mails.items():
            assert smtp.sendmail("tester@example.org", ["support@example.com"], raw) == {}, name

    tickets = {t["subject"]: t for t in cli.tickets()}
    held = cli.quarantine()
    assert len(tickets) + len(held) == len(mails)
    assert all(entry["reason"] for entry in held)
    assert [e["reason"] for e in held] == ["parse_error:nesting_too_deep"]

    assert "Prüfung der Rechnung" in tickets
    assert cli.ticket(tickets["Prüfung der Rechnung"]["number"])["requester_name"] == "Jürgen Müller"
    nul = cli.ticket(tickets["nul in subject"]["number"])["messages"][0]
    assert nul["text"] == "bodywithnul"
    [attachment] = cli.ticket(tickets["big attachment"]["number"])["messages"][0]["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("passwd", 30 * 1024 * 1024)
    assert tickets.keys() >= {"no id", "malformed", "many parts", "long header", "long ids", "nul params"}
    # An address too long for any mail system is not one: the envelope sender stands in.
    assert tickets["long ids"]["requester"] == "tester@example.org"

    # The 41 MB mail may cost a small multiple of its size while parsed (the
    # email package holds it as text, lines and payload), never an unbounded one.
    assert peak_rss_mb(mailgate_server.proc.pid) < 12 * 41 + 150

    # ... and the server still serves.
    with smtplib.SMTP("127.0.0.1", mailgate_server.smtp_port) as smtp:
        smtp.send_message(message(subject="after the storm"))
    assert "after the storm" in {t["subject"] for t in cli.tickets()}


def test_envelope_sender_with_invalid_utf8_is_still_recorded(mailgate_server, cli):
    with smtplib.SMTP("127.0.0.1", mailgate_server.smtp_port) as smtp:
        smtp.ehlo()
        smtp.send(b"MAIL FROM:<m\xe9@example.org>\r\n")      # Latin-1, not UTF-8
        assert smtp.getreply()[0] == 250
        smtp.rcpt("noreply@example.com")
        code, _ = smtp.data(b"To: noreply@example.com\r\nSubject: to noreply\r\n\r\nhi\r\n")
    assert code == 250                      # acknowledged and held, not deferred forever
    [entry] = cli.quarantine()
    assert entry["reason"] == "off_thread:no_reply" and entry["mail_from"].endswith("@example.org")


def test_mail_without_from_uses_the_envelope_sender_and_without_either_is_quarantined(mailgate_server, cli):
    with smtplib.SMTP("127.0.0.1", mailgate_server.smtp_port) as smtp:
        smtp.sendmail("alerts@monitoring.example", ["support@example.com"],
                      b"To: support@example.com\r\nSubject: disk full\r\n\r\n/var is 99% full\r\n")
        smtp.sendmail("", ["support@example.com"],
                      b"To: support@example.com\r\nSubject: from nobody\r\n\r\nwho am I\r\n")
    [ticket] = cli.tickets()
    assert (ticket["subject"], ticket["requester"]) == ("disk full", "alerts@monitoring.example")
    [entry] = cli.quarantine()
    assert (entry["reason"], entry["subject"]) == ("no_sender", "from nobody")


def test_conversation_bad_input_gets_a_decision_with_a_reason(helpdesk):
    references = " ".join(f"<ref{i}.{'x' * 20}@old.example>" for i in range(5000))
    history = "".join(f"> riga {i} della conversazione precedente, citata ancora e ancora\n" for i in range(150_000))
    cases = [
        (message(subject="[#99999] Aiuto", body="Il ticket non esiste.\n"), "support@example.com", ()),
        (message(subject="Catena lunga", references=references, in_reply_to="<unknown@old.example>"),
         "support@example.com", ()),
        (message(subject="Token lungo"), "support+mg" + "a" * 40 + "@example.com", ()),
        (message(subject="Token non ASCII"), "support+mgпривет12345678@example.com", ("SMTPUTF8",)),
        (message(subject="Re: storia lunga", body="Risposta breve in cima.\n\nIl 20/11/2026 Mario ha scritto:\n" + history),
         "support@example.com", ()),
        (message(subject="Re: lingua sconosciuta", sender="Kati <kati@example.fi>",
                 body="Kiitos vastauksesta.\n\nMario Rossi kirjoitti 20.11.2026 klo 10.00:\n> vecchio testo\n> ancora\n"),
         "support@example.com", ()),
    ]
    for msg, rcpt, options in cases:
        helpdesk.send(msg, rcpt=rcpt, options=options)
    tickets = {t["subject"]: t for t in helpdesk.cli.tickets()}
    held = {e["subject"]: e for e in helpdesk.cli.quarantine()}
    assert len(tickets) + len(held) == len(cases)

    unknown_tag = helpdesk.cli.ticket(tickets["Aiuto"]["number"])["messages"][0]
    assert "subject_tag:unknown_ticket" in unknown_tag["rule_hits"]
    assert "Catena lunga" in tickets
    assert held["Token lungo"]["reason"] == held["Token non ASCII"]["reason"] == "off_thread:bad_token"
    long_history = helpdesk.cli.ticket(tickets["storia lunga"]["number"])["messages"][0]
    assert long_history["visible_text"] == "Risposta breve in cima."
    assert len(long_history["text"]) > 10_000_000                # the full body is kept
    finnish = helpdesk.cli.ticket(tickets["lingua sconosciuta"]["number"])["messages"][0]
    assert finnish["visible_text"].startswith("Kiitos vastauksesta.") and "vecchio testo" not in finnish["visible_text"]
