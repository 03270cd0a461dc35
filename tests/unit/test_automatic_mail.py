"""Automatic mail (RFC 3834), delivery reports (RFC 3464) and what the
receiving MTA vouches for (RFC 8601), with literal headers and the corpora."""

from __future__ import annotations

import json

import pytest

from mailgate.mail import autosubmit
from mailgate.mail.authresults import dmarc_failed
from mailgate.mail.parse import parse_mail
from tests.conftest import CORPORA

OURS = frozenset({"example.com", "support@example.com", "noreply@example.com", "bounces@example.com"})


def mail(headers: str = "", body: str = "Ciao", sender: str = "Mario <mario@example.org>",
         subject: str = "Domanda"):
    text = f"From: {sender}\nTo: support@example.com\nSubject: {subject}\n{headers}".strip()
    return parse_mail((text.replace("\n", "\r\n") + "\r\n\r\n" + body).encode(), max_attachment_size=1 << 20)


def signals(headers: str = "", mail_from: str | None = "mario@example.org", **kwargs) -> list[str]:
    return autosubmit.signals(mail(headers, **kwargs), mail_from, OURS)


def test_a_persons_mail_has_no_automatic_signal():
    assert signals("X-Mailer: Microsoft Outlook 16.0\nAuto-Submitted: no\nX-Auto-Response-Suppress: RN, NRN") == []


@pytest.mark.parametrize("headers, rule", [
    ("Auto-Submitted: auto-replied", "auto:auto_submitted"),
    ("Auto-Submitted: auto-generated (failure)", "auto:auto_submitted"),
    ("Precedence: bulk", "auto:precedence"),
    ("Precedence: junk", "auto:precedence"),
    ("Precedence: list", "auto:precedence"),
    ("Precedence: auto_reply", "auto:precedence"),
    ("X-Precedence: bulk", "auto:precedence"),
    ("X-Autoreply: yes", "auto:autoreply"),
    ("X-Autorespond: vacation", "auto:autorespond"),
    ("X-Auto-Response-Suppress: All", "auto:auto_response_suppress"),
    ("X-Auto-Response-Suppress: DR, OOF, AutoReply", "auto:auto_response_suppress"),
    ("List-Id: <news.example.org>", "auto:list"),
    ("List-Unsubscribe: <mailto:leave@example.org>", "auto:list"),
    ("X-Loop: support@example.com", "auto:x_loop"),
    ("Return-Path: <>", "auto:null_sender"),
    ("X-Failed-Recipients: gone@example.org", "auto:failed_recipients"),
    ("Content-Type: multipart/report; report-type=delivery-status; boundary=x", "auto:dsn"),
])
def test_each_header_rule_fires_under_its_name(headers, rule):
    assert rule in signals(headers)


def test_x_loop_naming_someone_else_is_not_ours():
    assert signals("X-Loop: helpdesk@other.example") == []


def test_null_envelope_sender_is_automatic():
    assert signals(mail_from="") == ["auto:null_sender"]


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.org", "postmaster@example.org",
                                    "noreply@shop.example", "no-reply@shop.example",
                                    "do-not-reply@bank.example", "donotreply+abc@bank.example"])
def test_system_senders_are_automatic(sender):
    assert "auto:system_sender" in signals(sender=sender)


def test_ordinary_local_parts_that_merely_contain_reply_are_not_system_senders():
    assert signals(sender="replyguy@example.org") == []
    assert signals(sender="noreplyette@example.org") == []


def test_our_own_address_as_sender_is_a_loop():
    assert "auto:from_us" in signals(sender="support@example.com")
    assert "auto:from_us" in signals(sender="support+mgabc@example.com")


@pytest.mark.parametrize("subject", [
    "Out of Office: Domanda", "Automatic reply: Domanda", "Risposta automatica: Domanda",
    "Fuori sede fino al 30", "Respuesta automática: Domanda", "Réponse automatique : Domanda",
    "Abwesenheitsnotiz: Domanda", "Автоответ: Domanda", "Автоматический ответ: Вопрос",
])
def test_out_of_office_subjects_in_six_languages(subject):
    assert autosubmit.is_out_of_office(mail("Auto-Submitted: auto-generated", subject=subject))


def test_auto_replied_header_alone_is_an_out_of_office():
    assert autosubmit.is_out_of_office(mail("Auto-Submitted: auto-replied"))
    assert not autosubmit.is_out_of_office(mail("Auto-Submitted: auto-generated"))


DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: bounces+31-abcdefgh@example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; gone@example.org
Action: failed
Status: 5.1.1

Final-Recipient: rfc822; full@example.org
Action: failed
Status: 4.2.2

Final-Recipient: rfc822; slow@example.org
Action: delayed
Status: 4.4.1

--R
Content-Type: {returned}

From: support@example.com
Message-ID: <mg.42.31.abcdefghij@example.com>
Subject: [#42] Ricevuto

--R--
"""


def dsn(returned: str = "text/rfc822-headers"):
    raw = DSN.replace("{returned}", returned).replace("\n", "\r\n").encode()
    return parse_mail(raw, max_attachment_size=1 << 20)


def test_dsn_lists_failed_recipients_hard_and_soft_but_not_delayed():
    failed = {(r.address, r.status, r.permanent) for r in dsn().failed_recipients}
    assert failed == {("gone@example.org", "5.1.1", True), ("full@example.org", "4.2.2", False)}


@pytest.mark.parametrize("returned", ["text/rfc822-headers", "message/rfc822"])
def test_dsn_names_the_message_it_returns(returned):
    assert dsn(returned).returned_message_id == "<mg.42.31.abcdefghij@example.com>"


def test_exim_x_failed_recipients_counts_as_hard_failure():
    parsed = mail("X-Failed-Recipients: gone@example.org, other@example.org", sender="mailer-daemon@mx.example.org")
    assert [(r.address, r.permanent) for r in parsed.failed_recipients] == [("gone@example.org", True), ("other@example.org", True)]


def test_a_persons_mail_reports_no_failure():
    parsed = mail()
    assert (parsed.failed_recipients, parsed.returned_message_id) == ((), None)


TRUSTED = frozenset({"mx.example.com"})


@pytest.mark.parametrize("header, failed", [
    ("mx.example.com; dmarc=fail (p=reject) header.from=example.org", True),
    ("mx.example.com; spf=pass smtp.mailfrom=example.org; dkim=fail; dmarc=fail header.from=example.org", True),
    ("mx.example.com; dmarc=pass header.from=example.org", False),
    ("mx.example.com; spf=fail smtp.mailfrom=example.org", False),       # SPF alone is not DMARC
    ("evil.example; dmarc=fail header.from=example.org", False),         # not an MTA we trust
    ("MX.Example.COM; dmarc=fail header.from=example.org", True),
    ("mx.example.com; dmarc=fail; !!!garbage(((", False),               # unreadable says nothing
    ("total garbage without structure", False),
])
def test_dmarc_failure_counts_only_from_trusted_authserv_ids(header, failed):
    assert dmarc_failed((header,), TRUSTED) is failed


def test_without_trusted_ids_nothing_is_believed():
    assert dmarc_failed(("mx.example.com; dmarc=fail",), frozenset()) is False


# -- the corpora ------------------------------------------------------------------

def _discourse_cases():
    path = CORPORA / "discourse-receiver" / "expectations.json"
    if not path.exists():
        pytest.skip(f"needs the mail corpora beside the checkout ({path.parent})")
    return json.loads(path.read_text())["cases"]


def test_discourse_receiver_classification_of_automatic_and_human_mail():
    wrong = []
    for case in _discourse_cases():
        parsed = parse_mail((CORPORA / "discourse-receiver" / case["file"]).read_bytes(), max_attachment_size=1 << 24)
        found = autosubmit.signals(parsed, None, OURS)
        if case.get("auto_submitted") or case.get("is_bounce"):
            expected_auto = True
        elif case["kind"].startswith(("reply", "threading", "forward", "header decoding")):
            expected_auto = False          # people writing: no automatic signal may fire
        else:
            continue
        if bool(found) != expected_auto:
            wrong.append((case["file"], found))
        bounce = case.get("bounce")
        if bounce and (bounce["final_recipient"], bounce["status"]) not in {
                (r.address, r.status) for r in parsed.failed_recipients}:
            wrong.append((case["file"], parsed.failed_recipients))
    assert wrong == []


def test_every_delivery_report_in_the_corpora_is_recognised():
    if not CORPORA.exists():
        pytest.skip(f"needs the mail corpora beside the checkout ({CORPORA})")
    reports = 0
    for path in sorted(CORPORA.glob("*/*")):
        if path.suffix in (".json", ".md", ".yml") or not path.is_file():
            continue
        raw = path.read_bytes()
        if b"report-type=delivery-status" not in raw.replace(b'"', b"").replace(b" ", b"").lower():
            continue
        reports += 1
        parsed = parse_mail(raw, max_attachment_size=1 << 24)
        assert "auto:dsn" in autosubmit.signals(parsed, None, OURS), path.name
        if b"action: failed" in raw.lower() and b"final-recipient" in raw.lower():
            assert parsed.failed_recipients, path.name
    assert reports >= 5
