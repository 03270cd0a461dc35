"""Inactivity closure (SPEC §7.3) over real SMTP, the clock moved with
`mailgate scheduler run-once --now`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.support.mail import message, reply_to

ITALIAN = "Buongiorno, da ieri non riesco ad accedere al mio account. Potete aiutarmi?\n"


def later(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


def run_once(helpdesk, *flags: str, **delta) -> list[dict]:
    return helpdesk.cli.json_lines("scheduler", "run-once", "--json", "--now", later(**delta), *flags)


def mails_to(helpdesk, address: str) -> list:
    helpdesk.drain_outbox()
    return helpdesk.sink.messages(address)


def test_pending_ticket_is_reminded_then_closed_in_the_customers_language(helpdesk):
    helpdesk.send(message(sender="rossi@cliente.example", body=ITALIAN))
    number = helpdesk.cli.tickets()[0]["number"]
    helpdesk.cli.run("tickets", "set", str(number), "--status", "pending")
    assert run_once(helpdesk, hours=23) == []
    assert run_once(helpdesk, "--dry-run", hours=25) == [
        {"ticket": number, "action": "remind", "status": "pending", "dry_run": True}]
    assert run_once(helpdesk, hours=25) == [{"ticket": number, "action": "remind", "status": "pending",
                                             "dry_run": False}]
    assert run_once(helpdesk, hours=25, minutes=5) == []                 # once only
    reminder = mails_to(helpdesk, "rossi@cliente.example")[-1]
    assert (reminder["Content-Language"], reminder["Auto-Submitted"]) == ("it", "auto-generated")
    assert "Aspettiamo una tua risposta" in reminder["Subject"]

    assert [d["action"] for d in run_once(helpdesk, hours=49)] == ["close"]
    closing = mails_to(helpdesk, "rossi@cliente.example")[-1]
    assert "Richiesta chiusa" in closing["Subject"] and "noreply@example.com" in closing["From"]
    ticket = helpdesk.cli.ticket(number)
    assert ticket["status"] == "closed"
    assert ("status", "pending", "closed", "scheduler") in {
        (e["data"]["field"], e["data"]["from"], e["data"]["to"], e["data"]["by"])
        for e in ticket["events"] if e["kind"] == "changed"}


def test_an_answer_before_the_deadline_reopens_and_stops_the_timer(helpdesk):
    first = message(sender="rossi@cliente.example", body=ITALIAN)
    helpdesk.send(first)
    number = helpdesk.cli.tickets()[0]["number"]
    helpdesk.cli.run("tickets", "set", str(number), "--status", "pending")
    helpdesk.send(reply_to(first, sender="rossi@cliente.example", body="Ecco i dati che chiedevate.\n"))
    assert helpdesk.cli.ticket(number)["status"] == "open"
    # Waiting on an agent again: no reminder, no closure (only its response target runs).
    assert [d["action"] for d in run_once(helpdesk, hours=49)] == ["breach"]


def test_a_solved_ticket_closes_after_two_days_without_a_reminder(helpdesk):
    helpdesk.send(message(sender="rossi@cliente.example", body=ITALIAN))
    number = helpdesk.cli.tickets()[0]["number"]
    helpdesk.cli.run("tickets", "set", str(number), "--status", "solved")
    assert run_once(helpdesk, hours=25) == []
    assert [d["action"] for d in run_once(helpdesk, hours=49)] == ["close"]
    assert [e["kind"] for e in helpdesk.customer_events(helpdesk.cli.ticket(number))][-1] == "ticket_closed"
