"""Notifications over real SMTP (SPEC §6): `mailgate serve` renders the
acknowledgement in the customer's language and hands it to a real relay
(the sink); the customer's reply to it threads back into the ticket."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
import smtplib

from storage import outbox
from storage.db import transaction
from tests.support.mail import client_reply, message

# What a customer writes, and what the acknowledgement must say, per language.
LANGUAGES = {
    "it": ("Buongiorno, da ieri sera non riesco più ad accedere al mio account. Potete aiutarmi?",
           "Scrivi la tua risposta sopra questa riga", "Abbiamo ricevuto la tua richiesta"),
    "es": ("Hola, desde anoche no puedo entrar en mi cuenta. ¿Me podéis ayudar, por favor?",
           "Escribe tu respuesta por encima de esta línea", "Hemos recibido tu solicitud"),
    "fr": ("Bonjour, depuis hier soir je n'arrive plus à me connecter à mon compte. Pouvez-vous m'aider ?",
           "Veuillez écrire votre réponse au-dessus de cette ligne", "Nous avons bien reçu votre demande"),
    "ru": ("Здравствуйте! Со вчерашнего вечера не могу войти в свой аккаунт. Помогите, пожалуйста.",
           "Пожалуйста, напишите ответ над этой строкой", "Мы получили ваше обращение"),
    "en": ("Hello, since last night I cannot log in to my account any more. Could you help me?",
           "Please type your reply above this line", "We have received your request"),
}
GERMAN = "Hallo, seit gestern Abend kann ich mich nicht mehr in mein Konto einloggen. Können Sie mir helfen?"


def acknowledgement(helpdesk, customer: str) -> EmailMessage:
    helpdesk.drain_outbox()
    [ack] = helpdesk.sink.messages(customer)
    return ack


@pytest.mark.parametrize("language", LANGUAGES)
def test_new_mail_gets_an_acknowledgement_in_its_language_and_the_reply_threads_back(helpdesk, language):
    words, marker, opening = LANGUAGES[language]
    customer = f"cliente.{language}@customer.example"
    first = message(sender=customer, subject=f"Account {language}", body=words + "\n")
    helpdesk.send(first)
    [ticket] = helpdesk.cli.tickets()
    number = ticket["number"]
    assert ticket["language"] == language                      # detected, stored on the ticket

    ack = acknowledgement(helpdesk, customer)
    assert ack["Content-Language"] == language
    assert ack["In-Reply-To"] == first["Message-ID"]           # the customer's client threads it
    assert ack["Subject"].startswith(f"[#{number}] ") and opening in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied" and ack["X-Auto-Response-Suppress"] == "All"
    assert parseaddr(ack["From"])[1] == "support@example.com"
    assert re.fullmatch(r"support\+mg[a-z2-7]{29}@example\.com", ack["Reply-To"])
    assert re.fullmatch(rf"<mg\.{number}\.\d+\.[a-z2-7]{{10}}@example\.com>", ack["Message-ID"])
    text, html = ack.get_body(("plain",)).get_content(), ack.get_body(("html",)).get_content()
    assert ack.get_content_type() == "multipart/alternative"
    assert f"##- {marker} -##" in text and marker in html
    assert str(number) in text and f"https://support.example.com/t/{number}?k=" in text

    helpdesk.send(client_reply(ack, customer, "Ho ancora il problema."), rcpt=ack["Reply-To"])
    shown = helpdesk.cli.ticket(number)
    assert [m["matched_by"] for m in shown["messages"]] == [None, "token"]
    assert shown["messages"][1]["visible_text"] == "Ho ancora il problema."
    assert len(helpdesk.cli.tickets()) == 1


def test_a_language_without_templates_is_detected_and_answered_in_the_default(helpdesk, tmp_path):
    german = message(sender="kunde@customer.example", subject="Konto gesperrt", body=GERMAN + "\n")
    path = tmp_path / "german.eml"
    path.write_bytes(german.as_bytes())
    [inspected] = helpdesk.cli.json_lines("inspect", "--json", str(path))
    assert inspected["language"] == "de"
    helpdesk.send(german)
    assert helpdesk.cli.tickets()[0]["language"] == "de"
    ack = acknowledgement(helpdesk, "kunde@customer.example")
    assert ack["Content-Language"] == "en"
    assert "##- Please type your reply above this line -##" in ack.get_body(("plain",)).get_content()


def test_queue_language_and_contact_preference_come_before_detection(helpdesk):
    english = LANGUAGES["en"][0]
    helpdesk.send(message(sender="a@customer.example", to="billing@example.com", body=english))
    assert acknowledgement(helpdesk, "a@customer.example")["Content-Language"] == "it"   # billing is Italian
    helpdesk.cli.run("contacts", "set", "b@customer.example", "--language", "fr",
                     "--timezone", "Europe/Paris")
    helpdesk.send(message(sender="b@customer.example", to="billing@example.com", body=english))
    ack = acknowledgement(helpdesk, "b@customer.example")
    assert ack["Content-Language"] == "fr"
    assert re.search(r"\d{2}:\d{2} (CET|CEST|\+0[12]00)", ack.get_body(("plain",)).get_content())


def test_agents_of_the_queue_are_told_with_an_agent_token(helpdesk):
    helpdesk.send(message(sender="Mario Rossi <mario@example.org>", subject="Fattura doppia",
                          body="Mi avete addebitato due volte la fattura 118.\n"))
    helpdesk.drain_outbox()
    [notice] = helpdesk.sink.messages("giulia@example.com")
    number = helpdesk.cli.tickets()[0]["number"]
    assert notice["Subject"].startswith(f"[#{number}] ") and "Mario Rossi" in notice["Subject"]
    assert "Mi avete addebitato due volte la fattura 118." in notice.get_body(("plain",)).get_content()
    token = notice["Reply-To"].partition("+")[2].partition("@")[0]
    claim = helpdesk.signer.read_reply_token(token, datetime.now(timezone.utc).date())
    assert (claim.ticket, claim.role) == (number, "a")


def test_header_injection_through_names_and_subjects_adds_no_header(helpdesk):
    raw = (b"From: =?utf-8?q?Mario=0D=0ABcc:_victim@evil.example?= <mario@example.org>\r\n"
           b"To: support@example.com\r\n"
           b"Subject: =?utf-8?q?Ordine=0D=0ABcc:_victim2@evil.example?= "
           b"=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3D0d=3D0aCc:=5Fvictim3@evil.example=3F=3D?=\r\n"
           b"Message-ID: <inject@example.org>\r\nDate: Fri, 20 Nov 2026 09:30:00 +0000\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nBuongiorno, il mio ordine non arriva.\r\n")
    helpdesk.send(raw, rcpt="support@example.com", mail_from="mario@example.org")
    helpdesk.drain_outbox()
    sent = helpdesk.sink.deliveries
    assert {rcpt for d in sent for rcpt in d.rcpt_tos} == {"mario@example.org", "giulia@example.com"}
    for delivery in sent:
        names = {name.lower() for name in delivery.message.keys()}
        assert not names & {"bcc", "cc"}, delivery.raw.decode(errors="replace")[:800]
        header_lines = delivery.raw.split(b"\r\n\r\n")[0].split(b"\r\n")
        assert not any(line.lower().startswith((b"bcc:", b"cc:")) for line in header_lines)


# -- the relay: down, refusing, deferring ----------------------------------------

def count(helpdesk, **where) -> int:
    return len(helpdesk.outbox(**where))


def wait_until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_relay_down_loses_nothing_and_each_mail_goes_exactly_once_when_it_is_back(helpdesk):
    helpdesk.sink.stop()
    with smtplib.SMTP("127.0.0.1", helpdesk.server.smtp_port, timeout=60) as smtp:
        for n in range(200):
            mail = message(sender=f"cliente{n}@customer.example", subject=f"Domanda {n}",
                           body=f"Buongiorno, ho una domanda sull'ordine {n}.\n")
            assert smtp.sendmail(mail["From"], ["support@example.com"], mail.as_bytes()) == {}
    # Both the acknowledgement and the agent's notice of every ticket wait, tried and deferred.
    wait_until(lambda: all(e["attempts"] >= 1 and e["last_error"] for e in helpdesk.outbox()),
               what="every entry to be tried once against the stopped relay")
    entries = helpdesk.outbox()
    assert len(entries) == 400 and {e["status"] for e in entries} == {"queued"}
    helpdesk.sink.start()
    helpdesk.drain_outbox(timeout=120)
    delivered = [d.message["Message-ID"] for d in helpdesk.sink.deliveries]
    assert len(delivered) == len(set(delivered)) == 400
    assert set(delivered) == {e["message_id"] for e in helpdesk.outbox(status="sent")}


def test_permanent_refusal_fails_the_entry_once_and_a_deferral_is_retried(helpdesk):
    helpdesk.sink.refuse["nobody@customer.example"] = "550 5.1.1 <nobody@customer.example>: no such user"
    helpdesk.sink.refuse["later@customer.example"] = "451 4.3.0 try again later"
    helpdesk.send(message(sender="nobody@customer.example"))
    helpdesk.send(message(sender="later@customer.example", subject="Altra domanda"))
    wait_until(lambda: count(helpdesk, to="nobody@customer.example", status="failed") == 1, what="the 5xx")
    wait_until(lambda: any(e["attempts"] >= 2 for e in helpdesk.outbox(to="later@customer.example")),
               what="a second attempt after the 4xx")
    time.sleep(1.5)                  # three retry intervals: a failed entry is not tried again
    [failed] = helpdesk.outbox(to="nobody@customer.example")
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["last_error"].startswith("550 5.1.1")
    del helpdesk.sink.refuse["later@customer.example"]
    helpdesk.drain_outbox()
    assert len(helpdesk.sink.messages("later@customer.example")) == 1
    assert helpdesk.sink.messages("nobody@customer.example") == []


def test_suppressed_address_is_skipped_with_the_reason(helpdesk):
    helpdesk.send(message(sender="gone@customer.example"))
    helpdesk.drain_outbox()
    number = helpdesk.cli.tickets()[0]["number"]
    engine = helpdesk.engine()
    now = datetime.now(timezone.utc)
    with transaction(engine) as session:
        outbox.suppress(session, ("gone@customer.example",), "bounce:hard", now + timedelta(days=60), now)
    engine.dispose()
    helpdesk.cli.run("tickets", "set", str(number), "--status", "solved")
    wait_until(lambda: count(helpdesk, event="ticket_solved", status="skipped") == 1, what="the skip")
    [skipped] = helpdesk.outbox(event="ticket_solved")
    assert skipped["last_error"] == "suppressed: bounce:hard"
    assert len(helpdesk.sink.messages("gone@customer.example")) == 1        # the acknowledgement only


def test_outbox_commands_list_show_and_retry(helpdesk):
    helpdesk.sink.refuse["mario@example.org"] = "550 5.7.1 rejected"
    helpdesk.send(message())
    wait_until(lambda: count(helpdesk, status="failed") == 1, what="the refusal")
    [entry] = helpdesk.outbox(event="ticket_received")
    assert set(entry) >= {"id", "ticket", "event", "to", "subject", "language", "status", "attempts",
                          "message_id", "reply_to"}
    shown = helpdesk.cli.run("outbox", "show", str(entry["id"])).stdout
    assert f"Message-ID: {entry['message_id']}".encode() in shown and b"Reply-To: support+mg" in shown
    del helpdesk.sink.refuse["mario@example.org"]
    helpdesk.cli.run("outbox", "retry", str(entry["id"]))
    helpdesk.drain_outbox()
    [again] = helpdesk.sink.messages("mario@example.org")
    assert again["Message-ID"] == entry["message_id"]               # the same mail, not a new one
