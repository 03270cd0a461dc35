"""Automatic mail over real SMTP (SPEC §4.4, §4.5): out-of-office replies,
auto-responder loops, delivery reports of our mail, monitoring alerts,
floods and the same topic sent twice."""

from __future__ import annotations

from datetime import datetime, timezone

from storage import outbox
from storage.db import reading, transaction
from tests.support.mail import message, reply_to
from tests.support.responder import OutOfOfficeResponder

OOO = "direttore@customer.example"
PER_HOUR = 5                                        # conversation.auto_replies_per_hour default


def to_customer(helpdesk, address: str) -> list:
    """What the relay took for `address` (agents' notifications left out)."""
    helpdesk.drain_outbox()
    return helpdesk.sink.messages(address)


def notices(ticket: dict) -> list[str]:
    """The kinds of notice a ticket caused (its history of changes aside)."""
    return [e["kind"] for e in ticket["events"] if e["audience"] != "history"]


def test_naive_out_of_office_server_and_our_acknowledgements_do_not_ping_pong(helpdesk):
    responder = OutOfOfficeResponder(OOO, helpdesk.server.smtp_port, polite=False)
    helpdesk.sink.on_delivery.append(responder)
    helpdesk.send(message(sender=OOO, subject="Ordine 4471", body="Dov'è il mio ordine?\n"))
    acknowledgements = to_customer(helpdesk, OOO)
    assert len(acknowledgements) == PER_HOUR == responder.sent
    assert all(m["Auto-Submitted"] == "auto-replied" for m in acknowledgements)
    tickets = helpdesk.cli.tickets()
    assert len(tickets) == PER_HOUR + 1                 # the last answer got no acknowledgement
    stopped = helpdesk.cli.ticket(tickets[0]["number"])
    assert "auto_reply:limit" in stopped["messages"][0]["rule_hits"]
    assert notices(stopped) == ["new_ticket"]           # the agents still hear of it


def test_polite_out_of_office_is_kept_on_the_ticket_and_changes_nothing(helpdesk):
    responder = OutOfOfficeResponder(OOO, helpdesk.server.smtp_port, polite=True)
    first = message(sender=OOO, subject="Ordine 4471")
    helpdesk.send(first)
    helpdesk.drain_outbox()
    number = helpdesk.cli.tickets()[0]["number"]
    helpdesk.cli.run("tickets", "set", str(number), "--status", "pending")
    helpdesk.sink.on_delivery.append(responder)
    helpdesk.cli.run("tickets", "set", str(number), "--status", "solved")      # a notice to answer
    assert len(to_customer(helpdesk, OOO)) == 2 and responder.sent == 1
    ticket = helpdesk.cli.ticket(number)
    assert ticket["status"] == "solved"                 # an absence does not reopen
    assert [(m["visibility"], m["matched_by"]) for m in ticket["messages"]] == [
        ("public", None), ("automatic", "token")]          # it answered our Reply-To
    assert "auto:out_of_office" in ticket["messages"][1]["rule_hits"]
    assert len(helpdesk.cli.tickets()) == 1


def dsn(to: str, failed: str, status: str, returned_id: str = "<x@y>") -> bytes:
    return (f"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
            f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <dsn-{status}-{failed}@mx.customer.example>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
            f"--R\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
            f"--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n"
            f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: {status}\r\n"
            f"--R\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\n"
            f"Message-ID: {returned_id}\r\n--R--\r\n").encode()


def queue_notice(helpdesk, ticket: int, to: str) -> int:
    """An outbox entry as the notifier leaves it once the relay took the mail."""
    engine = helpdesk.engine()
    now = datetime.now(timezone.utc)
    with transaction(engine) as session:
        entry = outbox.add(session, ticket_id=ticket, event="ticket_received", to_addr=to,
                           subject=f"[#{ticket}] Ricevuto", status=outbox.SENT, attempts=1,
                           created_at=now, sent_at=now)
    engine.dispose()
    return entry


def test_hard_bounce_to_our_verp_address_fails_the_entry_and_suppresses_the_address(helpdesk):
    helpdesk.send(message(sender="Mario <mario@customer.example>"))
    number = helpdesk.cli.tickets()[0]["number"]
    entry = queue_notice(helpdesk, number, "mario@customer.example")
    verp = f"bounces+{helpdesk.signer.verp_detail(entry)}@example.com"
    helpdesk.send(dsn(verp, "mario@customer.example", "5.1.1"), rcpt=verp, mail_from="")

    assert [t["number"] for t in helpdesk.cli.tickets()] == [number]          # never a ticket
    ticket = helpdesk.cli.ticket(number)
    assert (ticket["status"], ticket["messages"][-1]["visibility"]) == ("new", "automatic")
    failure = ticket["events"][-1]
    assert (failure["kind"], failure["audience"], failure["data"]["address"], failure["data"]["status"]) == (
        "delivery_failed", "agents", "mario@customer.example", "5.1.1")
    engine = helpdesk.engine()
    with reading(engine) as session:
        assert outbox.get(session, entry).status == outbox.FAILED
        assert outbox.is_suppressed(session, "mario@customer.example", datetime.now(timezone.utc))
    engine.dispose()
    # Nothing more goes to an address that bounces.
    helpdesk.send(message(sender="Mario <mario@customer.example>", subject="Altra domanda", body="Ancora?\n"))
    newest = helpdesk.cli.ticket(helpdesk.cli.tickets()[0]["number"])
    assert helpdesk.customer_events(newest) == []
    assert "auto_reply:address_suppressed" in newest["messages"][0]["rule_hits"]


def test_bounce_naming_our_signed_message_id_is_matched_without_verp(helpdesk):
    helpdesk.send(message(sender="Mario <mario@customer.example>"))
    number = helpdesk.cli.tickets()[0]["number"]
    entry = queue_notice(helpdesk, number, "mario@customer.example")
    returned = helpdesk.signer.message_id(number, entry, "example.com")
    helpdesk.send(dsn("support@example.com", "mario@customer.example", "4.4.7", returned),
                  rcpt="support@example.com", mail_from="")
    ticket = helpdesk.cli.ticket(number)
    assert "bounce:matched_by_message_id" in ticket["messages"][-1]["rule_hits"]
    assert "bounce:soft" in ticket["messages"][-1]["rule_hits"]


def test_bounce_we_cannot_tie_to_our_mail_is_held_and_suppresses_nobody(helpdesk):
    forged = "bounces+12-abcdefgh@example.com"
    helpdesk.send(dsn(forged, "ceo@customer.example", "5.1.1"), rcpt=forged, mail_from="")
    assert helpdesk.cli.tickets() == []
    [held] = helpdesk.cli.quarantine()
    assert (held["action"], held["reason"]) == ("bounce", "bounce:unmatched")
    engine = helpdesk.engine()
    with reading(engine) as session:
        assert not outbox.is_suppressed(session, "ceo@customer.example", datetime.now(timezone.utc))
    engine.dispose()


def test_monitoring_alert_opens_an_auto_ticket_without_acknowledgement(helpdesk):
    alert = message(sender="Nagios <nagios@monitor.example>", subject="PROBLEM: disk full on db1",
                    headers={"Auto-Submitted": "auto-generated"})
    helpdesk.send(alert)
    ticket = helpdesk.cli.ticket(helpdesk.cli.tickets()[0]["number"])
    assert (ticket["flags"], notices(ticket)) == (["auto"], ["new_ticket"])
    assert to_customer(helpdesk, "nagios@monitor.example") == []


def test_eleventh_ticket_in_an_hour_is_held_as_flood_with_a_single_notice(helpdesk):
    for n in range(12):
        helpdesk.send(message(subject=f"Domanda numero {n}", body=f"Testo diverso {n} " * (n + 1)))
    assert len(helpdesk.cli.tickets()) == 10
    assert [e["reason"] for e in helpdesk.cli.quarantine()] == ["flood", "flood"]
    assert len(helpdesk.events(kind="flood_notice")) == 1


def test_same_subject_and_text_again_joins_the_open_ticket_as_possible_duplicate(helpdesk):
    text = "Buongiorno, la fattura 2026/118 riporta un importo sbagliato. Potete correggerla?\n"
    helpdesk.send(message(subject="Fattura sbagliata", body=text))
    helpdesk.send(message(subject="Fattura sbagliata", body=text + "Grazie\n"))     # sent again, new Message-ID
    [ticket] = helpdesk.cli.tickets()
    shown = helpdesk.cli.ticket(ticket["number"])
    assert ticket["flags"] == ["possible_duplicate"] and len(shown["messages"]) == 2
    assert shown["messages"][1]["matched_by"] == "same_topic"


def test_reply_after_the_acknowledgement_is_not_a_new_acknowledgement(helpdesk):
    first = message()
    helpdesk.send(first)
    helpdesk.send(reply_to(first))
    [ticket] = helpdesk.cli.tickets()
    assert notices(helpdesk.cli.ticket(ticket["number"])) == ["ticket_received", "new_ticket", "customer_reply"]
