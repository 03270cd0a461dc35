"""`mailgate serve` over real SMTP and LMTP: tickets, comments, refusals,
duplicates and the 250-only-after-commit contract."""

from __future__ import annotations

import smtplib
import subprocess

import pytest

from tests.support.mail import message, reply_to


def send(port: int, msg, **kwargs) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        return smtp.send_message(msg, **kwargs)


def test_new_ticket_subject_drops_reply_and_forward_prefixes(mailgate_server, cli):
    send(mailgate_server.smtp_port, message(subject="RE: AW: Rechnung März"))
    assert [t["subject"] for t in cli.tickets()] == ["Rechnung März"]


def test_mail_sent_with_smtplib_becomes_a_ticket_and_its_reply_a_comment(mailgate_server, cli):
    first = message(subject="Non riesco ad accedere", body="Buongiorno,\nnon riesco ad accedere.\n")
    assert send(mailgate_server.smtp_port, first) == {}

    [ticket] = cli.tickets()
    assert (ticket["subject"], ticket["status"], ticket["queue"]) == ("Non riesco ad accedere", "new", "support")
    assert (ticket["requester"], ticket["requester_name"]) == ("mario@example.org", "Mario Rossi")

    send(mailgate_server.smtp_port, reply_to(first, body="Ecco lo screenshot.\n"))
    assert len(cli.tickets()) == 1
    thread = cli.ticket(ticket["number"])["messages"]
    assert [m["text"] for m in thread] == ["Buongiorno,\nnon riesco ad accedere.", "Ecco lo screenshot."]
    assert [m["matched_by"] for m in thread] == [None, "references"]


def test_mail_sent_with_swaks_becomes_a_ticket(mailgate_server, cli, swaks):
    proc = subprocess.run(
        [swaks, "--server", f"127.0.0.1:{mailgate_server.smtp_port}", "--from", "ana@example.es",
         "--to", "support@example.com", "--header", "Subject: Consulta desde swaks",
         "--body", "Hola, tengo una pregunta.", "--silent", "2"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    [ticket] = cli.tickets()
    assert ticket["subject"] == "Consulta desde swaks"
    assert ticket["requester"] == "ana@example.es"
    assert cli.ticket(ticket["number"])["messages"][0]["text"] == "Hola, tengo una pregunta."


def test_reply_with_only_the_subject_tag_joins_its_ticket(mailgate_server, cli):
    send(mailgate_server.smtp_port, message(subject="Fattura sbagliata"))
    [ticket] = cli.tickets()
    send(mailgate_server.smtp_port,
         message(subject=f"Re: [#{ticket['number']}] Fattura sbagliata", body="Ecco il numero.\n"))
    assert len(cli.tickets()) == 1
    assert cli.ticket(ticket["number"])["messages"][1]["matched_by"] == "subject_tag"


def test_recipient_that_is_not_ours_is_refused_and_nothing_is_relayed(mailgate_server, cli):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(mailgate_server.smtp_port, message(to="someone@elsewhere.example"))
    code, text = refused.value.recipients["someone@elsewhere.example"]
    assert code == 550 and text.startswith(b"5.1.1")
    assert cli.tickets() == []


def test_mail_to_ours_and_a_stranger_is_stored_for_ours_only(mailgate_server, cli):
    refused = send(mailgate_server.smtp_port, message(to="support@example.com, x@elsewhere.example"))
    assert list(refused) == ["x@elsewhere.example"]
    assert len(cli.tickets()) == 1


def test_mail_to_two_of_our_queues_makes_one_ticket_owned_by_the_first_queue(mailgate_server, cli):
    # RCPT order billing, support; config order support, billing: support owns it.
    send(mailgate_server.smtp_port, message(to="billing@example.com, support@example.com"),
         to_addrs=["billing@example.com", "support+urgent@example.com"])
    [ticket] = cli.tickets()
    assert ticket["queue"] == "support"


def test_plus_address_of_a_queue_is_accepted(mailgate_server, cli):
    send(mailgate_server.smtp_port, message(to="billing+invoice42@example.com"))
    [ticket] = cli.tickets()
    assert (ticket["queue"], ticket["priority"]) == ("billing", "high")


def test_same_mail_delivered_twice_makes_one_ticket(mailgate_server, cli):
    msg = message(subject="Doppio invio")
    send(mailgate_server.smtp_port, msg)
    send(mailgate_server.smtp_port, msg)    # e.g. a retry after a lost 250
    [ticket] = cli.tickets()
    assert len(cli.ticket(ticket["number"])["messages"]) == 1


def test_reused_message_id_with_new_content_is_not_swallowed(mailgate_server, cli):
    # FreeScout #5591: some clients reuse a Message-ID for a different mail.
    send(mailgate_server.smtp_port, message(subject="Primo", message_id="<same@example.org>"))
    send(mailgate_server.smtp_port, message(subject="Secondo", message_id="<same@example.org>",
                                            body="Un'altra domanda.\n"))
    assert sorted(t["subject"] for t in cli.tickets()) == ["Primo", "Secondo"]


def test_message_over_the_size_limit_gets_552_and_is_not_stored(cli, start_mailgate):
    server = start_mailgate({"MAILGATE_LIMITS_MAX_MESSAGE_SIZE": "20000"})
    big = message(body="riga di testo\n" * 3000).as_bytes()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and smtp.esmtp_features["size"] == "20000"
        # Without a SIZE parameter the limit is enforced on the data itself.
        smtp.mail("mario@example.org")
        smtp.rcpt("support@example.com")
        code, text = smtp.data(big)
        assert (code, text[:5]) == (552, b"5.3.4")
        # The session goes on: a small mail in the same connection is accepted.
        smtp.mail("mario@example.org")
        smtp.rcpt("support@example.com")
        assert smtp.data(message(subject="piccolo").as_bytes())[0] == 250
    assert [t["subject"] for t in cli.tickets()] == ["piccolo"]


def test_announced_size_over_the_limit_is_refused_before_the_data(cli, start_mailgate):
    server = start_mailgate({"MAILGATE_LIMITS_MAX_MESSAGE_SIZE": "20000"})
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as smtp:
        smtp.ehlo()
        code, text = smtp.mail("mario@example.org", ["SIZE=50000"])
        assert (code, text[:5]) == (552, b"5.3.4")
        assert smtp.mail("mario@example.org", ["SIZE=1000"])[0] == 250


def test_lmtp_refuses_oversized_mail_once_per_recipient(cli, start_mailgate, swaks):
    server = start_mailgate({"MAILGATE_LIMITS_MAX_MESSAGE_SIZE": "2000"})
    proc = subprocess.run(
        [swaks, "--protocol", "LMTP", "--server", f"127.0.0.1:{server.lmtp_port}",
         "--from", "ana@example.es", "--to", "support@example.com,billing@example.com",
         "--body", "troppo lungo " * 500, "--timeout", "10"],
        capture_output=True, text=True, timeout=60)
    assert proc.stdout.count("552 5.3.4") == 2, proc.stdout       # not a timeout on the second
    assert cli.tickets() == []


def test_dot_stuffed_lines_are_stored_as_the_sender_wrote_them(mailgate_server, cli):
    body = ".hidden first line\n.\n..\nends with a dot.\n...three\nlast line\n"
    send(mailgate_server.smtp_port, message(subject="dots", body=body))
    [ticket] = cli.tickets()
    assert cli.ticket(ticket["number"])["messages"][0]["text"] == body.rstrip("\n")


def test_stored_raw_mail_is_the_mail_sent_with_trace_headers_in_front(mailgate_server, cli, tmp_path):
    sent = message(subject="raw").as_bytes().replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", mailgate_server.smtp_port) as smtp:
        smtp.sendmail("mario@example.org", ["support@example.com"], sent)
    [ticket] = cli.tickets()
    sha = cli.ticket(ticket["number"])["messages"][0]["raw_sha256"]
    stored = (tmp_path / "data" / "raw" / sha[:2] / sha).read_bytes()
    assert stored.startswith(b"Return-Path: <mario@example.org>\r\nReceived: from ")
    assert stored.endswith(sent)


def test_lmtp_answers_once_per_recipient(mailgate_server, cli, swaks):
    # RFC 2033: a client waits for one reply per recipient; with a single
    # reply swaks (like Postfix) would wait until its timeout.
    proc = subprocess.run(
        [swaks, "--protocol", "LMTP", "--server", f"127.0.0.1:{mailgate_server.lmtp_port}",
         "--from", "ana@example.es", "--to", "support@example.com,billing@example.com",
         "--header", "Subject: due destinatari", "--timeout", "10"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("250 2.0.0 Ok: stored") == 2
    [ticket] = cli.tickets()
    assert ticket["subject"] == "due destinatari"
