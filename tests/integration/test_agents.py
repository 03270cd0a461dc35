"""Agents answer from their own mail client (SPEC §5), over real SMTP with a
real relay: the notification's Reply-To carries an agent token; the answer
reaches the customer from the support address, in the agent's words only;
commands at the top change the ticket; a bad one changes nothing."""

from __future__ import annotations

import signal
import time
from email.utils import parseaddr

from tests.conftest import write_config
from tests.support.mail import client_reply, message

GIULIA, MARCO = "giulia@example.com", "marco@example.com"      # Marco works the billing queue only
MARIO = "mario@example.org"


def notification(helpdesk, agent: str, index: int = -1):
    helpdesk.drain_outbox()
    return helpdesk.sink.messages(agent)[index]


def open_ticket(helpdesk, **kwargs) -> tuple[int, object]:
    first = message(**kwargs)
    helpdesk.send(first)
    return helpdesk.cli.tickets()[0]["number"], first


def test_agent_answers_by_mail_and_the_customer_gets_only_the_agents_words(helpdesk):
    number, first = open_ticket(helpdesk)
    notice = notification(helpdesk, GIULIA)
    assert helpdesk.sink.messages(MARCO) == []                          # not his queue
    words = "Buongiorno Mario,\nabbiamo riattivato il suo account: ora può accedere."
    helpdesk.send(client_reply(notice, "Giulia Bianchi <giulia@example.com>", f"#assign Giulia\n{words}"),
                  rcpt=notice["Reply-To"])

    helpdesk.drain_outbox()
    [answer] = [m for m in helpdesk.sink.messages(MARIO) if m["Auto-Submitted"] is None]
    assert parseaddr(answer["From"]) == ("Giulia Bianchi via Example Support", "support@example.com")
    assert answer["In-Reply-To"] == first["Message-ID"]                 # threads under the customer's mail
    assert answer["Subject"].startswith(f"[#{number}] ")
    text = answer.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert words in text
    assert "#assign" not in text and "On Mon, Support wrote" not in text and "> " not in text
    assert GIULIA not in answer.as_string()                             # never the agent's own address
    ticket = helpdesk.cli.ticket(number)
    assert (ticket["status"], ticket["assignee"]) == ("pending", GIULIA)

    helpdesk.send(client_reply(answer, MARIO, "Grazie, funziona!"), rcpt=answer["Reply-To"])
    helpdesk.drain_outbox()
    told = notification(helpdesk, GIULIA)
    assert "Grazie, funziona!" in told.get_body(("plain",)).get_content()
    assert helpdesk.cli.ticket(number)["status"] == "open"
    assert helpdesk.sink.messages(MARCO) == []


def test_commands_change_the_ticket_and_a_note_stays_inside(helpdesk):
    number, _ = open_ticket(helpdesk)
    notice = notification(helpdesk, GIULIA)
    acknowledgement_only = len(helpdesk.sink.messages(MARIO))
    helpdesk.send(client_reply(notice, GIULIA, "#note\n#priority high\n#category billing/invoices\n"
                                               "Il cliente ha due account, verificare."), rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    assert len(helpdesk.sink.messages(MARIO)) == acknowledgement_only     # a note never reaches the customer
    ticket = helpdesk.cli.ticket(number)
    assert (ticket["priority"], ticket["category"], ticket["subcategory"]) == ("high", "billing", "invoices")
    assert ticket["messages"][-1]["visibility"] == "internal"
    assert {(c["data"]["field"], c["data"]["to"]) for c in ticket["events"] if c["kind"] == "changed"} >= {
        ("priority", "high"), ("category", "billing"), ("subcategory", "invoices")}

    helpdesk.send(client_reply(notice, GIULIA, "#queue billing\n#assign marco@example.com\n#solve\n"
                                               "Risolto, le abbiamo inviato la fattura corretta."),
                  rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    ticket = helpdesk.cli.ticket(number)
    assert (ticket["status"], ticket["queue"], ticket["assignee"]) == ("solved", "billing", MARCO)
    kinds = [e["kind"] for e in helpdesk.customer_events(ticket)]
    assert kinds[-2:] == ["agent_reply", "ticket_solved"]
    assert len(helpdesk.outbox(to=MARIO, event="ticket_solved", status="sent")) == 1


def test_an_unknown_command_changes_nothing_and_the_agent_gets_the_list(helpdesk):
    number, _ = open_ticket(helpdesk)
    notice = notification(helpdesk, GIULIA)
    before = helpdesk.cli.ticket(number)
    helpdesk.send(client_reply(notice, GIULIA, "#priority high\n#escalate\nDa passare al secondo livello."),
                  rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    after = helpdesk.cli.ticket(number)
    assert (after["priority"], after["status"], len(after["messages"])) == (
        before["priority"], before["status"], len(before["messages"]))
    error = notification(helpdesk, GIULIA)
    body = error.get_body(("plain",)).get_content()
    assert "unknown command #escalate" in body and "#priority low|medium|high" in body
    [held] = helpdesk.cli.quarantine()
    assert (held["action"], held["reason"]) == ("rejected", "agent:command_error")


def test_a_customer_writing_a_command_closes_nothing(helpdesk):
    number, first = open_ticket(helpdesk)
    ack = notification(helpdesk, MARIO)
    helpdesk.send(client_reply(ack, MARIO, "#close\n#priority high\nHo ancora il problema."), rcpt=ack["Reply-To"])
    ticket = helpdesk.cli.ticket(number)
    assert (ticket["status"], ticket["priority"]) == ("new", "medium")
    assert ticket["messages"][-1]["visible_text"].startswith("#close")      # just words from a customer


def test_an_agents_out_of_office_is_kept_and_relays_nothing(helpdesk):
    number, _ = open_ticket(helpdesk)
    notice = notification(helpdesk, GIULIA)
    absent = client_reply(notice, GIULIA, "Sono in ferie fino al 30 novembre.")
    absent["Auto-Submitted"] = "auto-replied"
    sent_before = len(helpdesk.sink.deliveries)
    helpdesk.send(absent, rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    assert len(helpdesk.sink.deliveries) == sent_before
    ticket = helpdesk.cli.ticket(number)
    assert ticket["messages"][-1]["visibility"] == "automatic" and ticket["status"] == "new"


def test_another_agent_using_a_token_is_no_participant_and_nothing_is_relayed(helpdesk):
    number, _ = open_ticket(helpdesk)
    notice = notification(helpdesk, GIULIA)
    helpdesk.send(client_reply(notice, MARCO, "Rispondo io."), rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    assert [m for m in helpdesk.sink.messages(MARIO) if m["Auto-Submitted"] is None] == []
    [held] = helpdesk.cli.quarantine()
    assert (held["reason"], held["ticket"]) == ("off_thread:not_participant", number)
    assert len(helpdesk.cli.ticket(number)["messages"]) == 1


def test_commands_only_change_without_relaying_and_an_html_only_reply_is_relayed(helpdesk):
    number, _ = open_ticket(helpdesk)
    notice = notification(helpdesk, GIULIA)
    helpdesk.send(client_reply(notice, GIULIA, "#pending"), rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    assert helpdesk.cli.ticket(number)["status"] == "pending"
    assert [m for m in helpdesk.sink.messages(MARIO) if m["Auto-Submitted"] is None] == []
    helpdesk.send(client_reply(notice, GIULIA, "Gentile Mario,\nprovi ora ad accedere.", html=True),
                  rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    [answer] = [m for m in helpdesk.sink.messages(MARIO) if m["Auto-Submitted"] is None]
    text = answer.get_body(("plain",)).get_content()
    assert "provi ora ad accedere" in text and "From:" not in text


def test_agent_opens_a_ticket_for_a_customer_with_requester(helpdesk):
    proactive = message(sender="Giulia Bianchi <giulia@example.com>", subject="Il suo ordine 4471",
                        body="#requester anna@customer.example\nGentile Anna,\nil suo ordine è in ritardo di due giorni.\n")
    helpdesk.send(proactive)
    helpdesk.drain_outbox()
    [ticket] = helpdesk.cli.tickets()
    assert (ticket["requester"], ticket["status"]) == ("anna@customer.example", "pending")
    [mail] = helpdesk.sink.messages("anna@customer.example")
    assert parseaddr(mail["From"])[1] == "support@example.com"
    assert "il suo ordine è in ritardo" in mail.get_body(("plain",)).get_content()
    assert "#requester" not in mail.get_body(("plain",)).get_content()


def test_admin_assigns_by_hand_and_lists_by_assignee_with_history(helpdesk):
    number, _ = open_ticket(helpdesk)
    helpdesk.cli.run("tickets", "set", str(number), "--assign", "Marco Verdi", "--priority", "high")
    assert [t["number"] for t in helpdesk.cli.json_lines("tickets", "list", "--json", "--assignee", MARCO)] == [number]
    assert helpdesk.cli.json_lines("tickets", "list", "--json", "--priority", "low") == []
    changes = [e["data"] for e in helpdesk.cli.ticket(number)["events"] if e["kind"] == "changed"]
    assert {(c["field"], c["from"], c["to"], c["by"]) for c in changes} == {
        ("assignee", None, MARCO, "admin"), ("priority", "medium", "high", "admin")}
    refused = helpdesk.cli.run("tickets", "set", str(number), "--assign", "nobody", check=False)
    assert refused.returncode == 1 and b"no agent 'nobody'" in refused.stderr
    agents = helpdesk.cli.json_lines("agents", "list", "--json")
    assert [(a["address"], a["queues"]) for a in agents] == [
        (GIULIA, ["support", "billing", "sales"]), (MARCO, ["billing"])]


def test_sighup_reloads_agents_and_a_bad_config_keeps_the_running_one(helpdesk, helpdesk_document):
    path = helpdesk.cli.config_path
    helpdesk_document["agents"].append({"name": "Sara Neri", "address": "sara@example.com", "queues": ["sales"]})
    write_config(path, helpdesk_document)
    helpdesk.server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: config reloaded (3 queues, 3 agents" in helpdesk.server.log())
    helpdesk.send(message(to="sales@example.com", subject="Preventivo"))
    helpdesk.drain_outbox()
    assert len(helpdesk.sink.messages("sara@example.com")) == 1

    path.write_text(path.read_text() + "\n[nonsense]\n")
    helpdesk.server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config not reloaded, the running one stays: nonsense: unknown section" in helpdesk.server.log())
    helpdesk.send(message(to="sales@example.com", subject="Preventivo 2", body="Un altro preventivo, grazie.\n"))
    helpdesk.drain_outbox()
    assert len(helpdesk.sink.messages("sara@example.com")) == 2


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_files_the_agent_attaches_reach_the_customer(helpdesk):
    number, _ = open_ticket(helpdesk)
    notice = notification(helpdesk, GIULIA)
    reply = client_reply(notice, GIULIA, "Gentile Mario,\nin allegato la fattura corretta.")
    invoice = b"%PDF-1.4\n% fattura 118 corretta\n" + bytes(range(256)) * 8
    reply.add_attachment(invoice, maintype="application", subtype="pdf", filename="fattura 118 (corretta).pdf")
    helpdesk.send(reply, rcpt=notice["Reply-To"])
    helpdesk.drain_outbox()
    [answer] = [m for m in helpdesk.sink.messages(MARIO) if m["Auto-Submitted"] is None]
    [attached] = list(answer.iter_attachments())
    assert (attached.get_filename(), attached.get_content_type()) == ("fattura 118 (corretta).pdf", "application/pdf")
    assert attached.get_content() == invoice
    assert "in allegato la fattura corretta" in answer.get_body(("plain",)).get_content()
