"""Conversations over real SMTP (SPEC §4): who may continue a ticket, how a
reply finds it, and what an off-thread reply gets instead of being added."""

from __future__ import annotations

import json
import re
import subprocess

from tests.conftest import Cli
from tests.support.mail import message, reply_to
from tests.support.servers import MAILGATE, REPO

STRANGER = "Eve <eve@elsewhere.example>"
REPLY = "Grazie, ho provato di nuovo e ora il login funziona.\n"


def open_ticket(helpdesk, **kwargs) -> tuple[dict, object]:
    first = message(**kwargs)
    helpdesk.send(first)
    ticket = helpdesk.cli.tickets()[0]
    return helpdesk.cli.ticket(ticket["number"]), first


def test_new_mail_opens_a_ticket_and_asks_for_an_acknowledgement_with_its_link(helpdesk):
    ticket, _ = open_ticket(helpdesk)
    assert (ticket["status"], ticket["requester"], ticket["queue"]) == ("new", "mario@example.org", "support")
    [event] = helpdesk.customer_events(ticket)
    assert (event["kind"], event["recipient"], event["status"]) == ("ticket_received", "mario@example.org", "queued")
    link = event["data"]["link"]
    assert re.fullmatch(rf"https://support\.example\.com/t/{ticket['number']}\?k=[a-z2-7]+", link)


def test_reply_to_the_acknowledgement_token_becomes_a_comment(helpdesk):
    ticket, _ = open_ticket(helpdesk)
    token = helpdesk.requester_token(ticket)
    # A client that keeps neither subject tag nor References: the token alone threads it.
    helpdesk.send(message(subject="la mia risposta", body=REPLY), rcpt=f"support+{token}@example.com")
    after = helpdesk.cli.ticket(ticket["number"])
    assert [m["matched_by"] for m in after["messages"]] == [None, "token"]
    assert after["messages"][1]["visible_text"].startswith("Grazie, ho provato")
    assert len(helpdesk.cli.tickets()) == 1


def test_stranger_with_the_right_subject_tag_is_rejected_and_nothing_is_added(helpdesk):
    ticket, first = open_ticket(helpdesk)
    number = ticket["number"]
    spam = message(sender=STRANGER, subject=f"Re: [#{number}] {first['Subject']}",
                   body="Buy cheap watches at http://spam.example/\n")
    helpdesk.send(spam)
    after = helpdesk.cli.ticket(number)
    assert len(after["messages"]) == 1 and len(helpdesk.cli.tickets()) == 1
    [held] = helpdesk.cli.quarantine()
    assert (held["action"], held["reason"], held["ticket"], held["from"]) == (
        "rejected", "off_thread:not_participant", number, "eve@elsewhere.example")
    rejection = after["events"][-1]
    assert (rejection["kind"], rejection["recipient"]) == ("reply_rejected", "eve@elsewhere.example")
    assert rejection["data"]["new_request"] is True and "link" not in rejection["data"]
    assert "watches" not in json.dumps(rejection)                 # never echoes the sender's text
    # The same reason, word for word, in the log and in `inspect`.
    assert f"rejected #{number} (off_thread:not_participant)" in helpdesk.server.log()
    inspected = inspect(helpdesk.cli, spam.as_bytes(), "support@example.com")
    assert (inspected["decision"]["reason"], inspected["decision"]["matched_by"]) == (
        "off_thread:not_participant", "subject_tag")


def test_forged_token_is_rejected_as_bad_token(helpdesk):
    ticket, _ = open_ticket(helpdesk)
    token = helpdesk.requester_token(ticket)
    forged = token[:-3] + ("aaa" if token[-3:] != "aaa" else "bbb")
    helpdesk.send(message(body=REPLY), rcpt=f"support+{forged}@example.com")
    [held] = helpdesk.cli.quarantine()
    assert (held["action"], held["reason"]) == ("rejected", "off_thread:bad_token")
    assert "rejected (off_thread:bad_token)" in helpdesk.server.log()
    assert len(helpdesk.cli.ticket(ticket["number"])["messages"]) == 1


def test_mail_to_the_notifications_address_is_rejected_with_the_link_back(helpdesk):
    ticket, first = open_ticket(helpdesk)
    helpdesk.send(reply_to(first), rcpt="noreply@example.com")
    [held] = helpdesk.cli.quarantine()
    assert (held["reason"], held["ticket"]) == ("off_thread:no_reply", ticket["number"])
    assert f"rejected #{ticket['number']} (off_thread:no_reply)" in helpdesk.server.log()
    rejection = helpdesk.cli.ticket(ticket["number"])["events"][-1]
    assert rejection["data"]["link"].startswith(f"https://support.example.com/t/{ticket['number']}?k=")


def test_reply_to_a_closed_ticket_is_rejected_with_a_link_under_the_default_policy(helpdesk):
    ticket, first = open_ticket(helpdesk)
    helpdesk.cli.run("tickets", "set", str(ticket["number"]), "--status", "closed")
    helpdesk.send(reply_to(first))
    after = helpdesk.cli.ticket(ticket["number"])
    assert (after["status"], len(after["messages"])) == ("closed", 1)
    assert helpdesk.cli.quarantine()[0]["reason"] == "off_thread:closed"
    assert f"rejected #{ticket['number']} (off_thread:closed)" in helpdesk.server.log()
    rejection = after["events"][-1]
    assert (rejection["kind"], rejection["data"]["reason"]) == ("reply_rejected", "off_thread:closed")
    assert "link" in rejection["data"]


def test_reply_to_a_closed_ticket_reopens_it_under_reopen(helpdesk):
    ticket, first = open_ticket(helpdesk, to="billing@example.com")
    helpdesk.cli.run("tickets", "set", str(ticket["number"]), "--status", "closed")
    helpdesk.send(reply_to(first, to="billing@example.com"))
    after = helpdesk.cli.ticket(ticket["number"])
    assert (after["status"], after["closed_at"], len(after["messages"])) == ("open", None, 2)
    assert "closed:reopen" in after["messages"][1]["rule_hits"]


def test_reply_to_a_closed_ticket_opens_a_linked_one_under_new_ticket(helpdesk):
    ticket, first = open_ticket(helpdesk, to="sales@example.com")
    helpdesk.cli.run("tickets", "set", str(ticket["number"]), "--status", "closed")
    helpdesk.send(reply_to(first, to="sales@example.com"))
    newest = helpdesk.cli.tickets()[0]
    assert newest["number"] != ticket["number"] and newest["linked_ticket"] == ticket["number"]
    assert newest["queue"] == "sales" and newest["subject"] == first["Subject"]
    assert len(helpdesk.cli.ticket(ticket["number"])["messages"]) == 1
    assert [e["kind"] for e in helpdesk.customer_events(helpdesk.cli.ticket(newest["number"]))] == ["ticket_received"]


def test_colleague_from_an_organisation_that_shares_tickets_may_reply(helpdesk):
    ticket, first = open_ticket(helpdesk, sender="Boss <boss@acme.example>")
    helpdesk.send(reply_to(first, sender="Luca <luca@acme.example>"))
    assert len(helpdesk.cli.ticket(ticket["number"])["messages"]) == 2


def test_colleague_from_an_organisation_that_does_not_share_is_rejected(helpdesk):
    ticket, first = open_ticket(helpdesk, sender="Boss <boss@globex.example>")
    helpdesk.send(reply_to(first, sender="Luca <luca@globex.example>"))
    assert helpdesk.cli.quarantine()[0]["reason"] == "off_thread:not_participant"
    assert len(helpdesk.cli.ticket(ticket["number"])["messages"]) == 1


def test_cc_of_the_first_mail_and_reply_to_may_continue(helpdesk):
    ticket, first = open_ticket(helpdesk, cc="Anna <anna@partner.example>",
                                headers={"Reply-To": "mario.home@mail.example"})
    helpdesk.send(reply_to(first, sender="Anna <anna@partner.example>"))
    helpdesk.send(reply_to(first, sender="mario.home@mail.example", body="Ancora io.\n"))
    after = helpdesk.cli.ticket(ticket["number"])
    assert [m["from"] for m in after["messages"]] == ["mario@example.org", "anna@partner.example",
                                                      "mario.home@mail.example"]
    acknowledgement = next(e for e in after["events"] if e["kind"] == "ticket_received")
    assert acknowledgement["recipient"] == "mario.home@mail.example"     # answers go to Reply-To


def test_reply_to_our_signed_message_id_threads_and_a_forged_one_does_not(helpdesk):
    ticket, _ = open_ticket(helpdesk)
    number = ticket["number"]
    ours = helpdesk.signer.message_id(number, 1, "example.com")
    helpdesk.send(message(subject="Re: la vostra risposta", body=REPLY, in_reply_to=ours, references=ours))
    assert [m["matched_by"] for m in helpdesk.cli.ticket(number)["messages"]] == [None, "references"]
    forged = ours.replace(f"<mg.{number}.", f"<mg.{number + 100}.")
    helpdesk.send(message(subject="altro", body="Nuova domanda.\n", in_reply_to=forged))
    newest = helpdesk.cli.tickets()[0]
    assert newest["number"] != number
    assert "references:forged_id" in helpdesk.cli.ticket(newest["number"])["messages"][0]["rule_hits"]


def test_agent_may_answer_a_customers_ticket(helpdesk):
    ticket, first = open_ticket(helpdesk)
    helpdesk.send(reply_to(first, sender="Giulia Bianchi <giulia@example.com>", body="Provi ora.\n"))
    after = helpdesk.cli.ticket(ticket["number"])
    assert len(after["messages"]) == 2 and "participant:agent" in after["messages"][1]["rule_hits"]


def test_sender_failing_dmarc_at_our_mta_cannot_continue_and_gets_no_mail(helpdesk):
    ticket, first = open_ticket(helpdesk)
    spoof = reply_to(first, headers={"Authentication-Results": "mx.example.com; dmarc=fail header.from=example.org"})
    helpdesk.send(spoof)
    assert helpdesk.cli.quarantine()[0]["reason"] == "off_thread:not_participant"
    assert [e["kind"] for e in helpdesk.customer_events(helpdesk.cli.ticket(ticket["number"]))] == ["ticket_received"]


def test_new_mail_failing_dmarc_is_a_ticket_flagged_unauthenticated_without_acknowledgement(helpdesk):
    ticket, _ = open_ticket(helpdesk, headers={
        "Authentication-Results": "mx.example.com; spf=fail; dmarc=fail header.from=example.org"})
    assert ticket["flags"] == ["unauthenticated"] and helpdesk.customer_events(ticket) == []


def inspect(cli: Cli, raw: bytes, rcpt: str) -> dict:
    proc = subprocess.run(MAILGATE + ["-c", str(cli.config_path), "inspect", "--json", "--recipient", rcpt, "-"],
                          input=raw, capture_output=True, cwd=REPO, timeout=120, check=True)
    return json.loads(proc.stdout)
