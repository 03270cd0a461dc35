"""The notifier's pure parts (SPEC §6.2, §6.3): template lookup and
fallback, escaping, one-line subjects, language and time-zone choice, the
composed mail and its DKIM signature, and `templates check`."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import datetime, timezone
from email import message_from_bytes, policy

import dkim
import pytest

from mailgate.config import build_config
from mailgate.domain import Event
from mailgate.mail.language import detect_language
from mailgate.notify.check import check_templates
from mailgate.notify.compose import Headers, compose, dkim_sign
from mailgate.notify.kinds import KINDS, sample_context
from mailgate.notify.plan import MailFacts, Person, TicketFacts, customer_language, plan, zone_for
from mailgate.notify.render import SHIPPED, Rendered, Templates, language_chain
from tests.conftest import config_document

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc)        # a Friday


@pytest.fixture
def config(tmp_path):
    return build_config(config_document(tmp_path / "data", queues=[
        {"name": "support", "addresses": ["support@example.com"], "timezone": "Europe/Rome"},
        {"name": "russia", "addresses": ["podderzhka@example.com"], "language": "ru",
         "timezone": "Europe/Moscow"}],
        agents=[{"name": "Giulia", "address": "giulia@example.com"}]))


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- lookup -----------------------------------------------------------------------

def test_language_chain_goes_region_then_base_then_default():
    assert language_chain("pt_BR", "en") == ("pt_BR", "pt", "en")
    assert language_chain("it", "en") == ("it", "en")


def test_an_override_wins_file_by_file_and_a_missing_language_falls_back(tmp_path):
    write(tmp_path / "it" / "ticket_received.subject.txt", "Presa in carico: {{ ticket.subject }}\n")
    write(tmp_path / "pt" / "ticket_received.subject.txt", "Recebemos o seu pedido\n")
    templates = Templates("en", tmp_path)
    context = sample_context("ticket_received", "it")
    assert templates.render("ticket_received", "it", context).subject == "Presa in carico: Order 4471 not delivered"
    # The body of Italian is still the shipped one.
    assert "Scrivi la tua risposta sopra questa riga" in templates.render("ticket_received", "it", context).text
    assert templates.template_language("pt_BR") == "pt"
    assert templates.render("ticket_received", "pt_BR", context).subject == "Recebemos o seu pedido"
    assert templates.template_language("de") == "en"


def test_html_is_escaped_and_text_is_not(tmp_path):
    context = dict(sample_context("new_ticket"), text="<script>alert(1)</script> & co",
                   customer={"name": "Tom & <b>Jerry</b>", "address": "tom@example.org"})
    rendered = Templates("en").render("new_ticket", "en", context)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;" in rendered.html
    assert "<script>alert(1)</script> & co" in rendered.text


def test_a_subject_is_one_line_whatever_its_values(tmp_path):
    context = sample_context("ticket_received")
    context["ticket"] = dict(context["ticket"], subject="Ordine\r\nBcc: evil@example.org\x0b\u2028fine")
    subject = Templates("en").render("ticket_received", "en", context).subject
    assert "\n" not in subject and "\r" not in subject and subject.endswith("Ordine Bcc: evil@example.org fine")


def test_undefined_variable_is_an_error_not_an_empty_string(tmp_path):
    write(tmp_path / "en" / "flood_notice.subject.txt", "Hello {{ recipient.nickname }}\n")
    with pytest.raises(Exception, match="nickname"):
        Templates("en", tmp_path).render("flood_notice", "en", sample_context("flood_notice"))


def test_dates_and_durations_are_in_the_recipients_locale_and_zone():
    context = sample_context("ticket_received", "it")          # due 2026-11-23 13:00 UTC, 4 hours
    text = Templates("en").render("ticket_received", "it", context, "Europe/Rome").text
    assert "entro 4 ore, cioè entro lunedì 23 novembre 2026 14:00" in text
    text = Templates("en").render("ticket_received", "ru", sample_context("ticket_received", "ru"), "+03:00").text
    text = " ".join(text.split())                # CLDR puts no-break spaces in "2026 г."
    assert "понедельник, 23 ноября 2026 г., 16:00" in text and "4 часа" in text


# -- templates check --------------------------------------------------------------

def test_shipped_templates_pass_the_check():
    assert check_templates(Templates("en")) == []


def test_check_reports_syntax_errors_undefined_variables_and_missing_translations(tmp_path):
    shipped = tmp_path / "shipped"
    shutil.copytree(SHIPPED, shipped)
    (shipped / "ru" / "ticket_closed.body.html").unlink()
    override = tmp_path / "override"
    write(override / "it" / "ticket_received.body.txt", "Ciao\n{% if ticket %}\nnon chiuso\n")
    write(override / "es" / "flood_notice.subject.txt", "Hola\n{{ recipient.apodo }}\n")
    problems = check_templates(Templates("en", override, shipped))
    assert any(p.startswith(f"{override}/it/ticket_received.body.txt:3: ") for p in problems), problems
    assert any(p.startswith(f"{override}/es/flood_notice.subject.txt:2: ") and "apodo" in p
               for p in problems), problems
    assert any(p.startswith("ru/ticket_closed.body.html: missing translation") for p in problems), problems
    assert len(problems) == 3


# -- language and zone (SPEC §6.3, §7.1) ---------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Buongiorno, il mio ordine non è ancora arrivato. Potete controllare?", "it"),
    ("Hola, mi pedido todavía no ha llegado. ¿Podéis revisarlo?", "es"),
    ("Bonjour, ma commande n'est toujours pas arrivée. Pouvez-vous vérifier ?", "fr"),
    ("Здравствуйте, мой заказ до сих пор не пришёл. Проверьте, пожалуйста.", "ru"),
    ("Hello, my order has still not arrived. Could you check?", "en"),
    ("Hallo, meine Bestellung ist immer noch nicht angekommen. Können Sie nachsehen?", "de"),
    ("https://example.com/order/4471 12345 --", None),
    ("", None),
])
def test_language_of_short_customer_texts(text, expected):
    assert detect_language(text) == expected


def test_language_order_preference_queue_detected_content_language_default(config):
    ticket = TicketFacts(1, "x", "new", "medium", "support")
    russian_queue = TicketFacts(2, "x", "new", "medium", "russia")
    mail = MailFacts(language="es", content_language="fr")
    assert customer_language(config, Person("a@x.org", language="it"), russian_queue, mail) == "it"
    assert customer_language(config, Person("a@x.org"), russian_queue, mail) == "ru"
    assert customer_language(config, Person("a@x.org"), ticket, mail) == "es"
    assert customer_language(config, Person("a@x.org"), ticket, MailFacts(content_language="fr")) == "fr"
    assert customer_language(config, Person("a@x.org"), ticket, MailFacts()) == "en"


def test_zone_is_the_preference_else_the_customers_offset_else_the_team(config):
    assert zone_for(config, Person("a@x.org", timezone="Asia/Tokyo"), "support", None, NOW) == "Asia/Tokyo"
    assert zone_for(config, Person("a@x.org"), "support", MailFacts(utc_offset=60), NOW) == "Europe/Rome"
    assert zone_for(config, Person("a@x.org"), "support", MailFacts(utc_offset=-300), NOW) == "-05:00"
    assert zone_for(config, Person("a@x.org"), "russia", MailFacts(), NOW) == "Europe/Moscow"


def test_plan_writes_one_notice_per_agent_with_an_agent_token(config):
    ticket = TicketFacts(7, "Fattura", "new", "medium", "support", thread=("<first@x.org>",),
                         requester=Person("mario@x.org", "Mario"))
    notices = plan(config, Event("new_ticket", "agents", ticket=7), ticket,
                   [Person("giulia@example.com", "Giulia", contact=3)], MailFacts(message_id="<first@x.org>"),
                   NOW, lambda language: language)
    [notice] = notices
    assert (notice.reply_role, notice.from_addr, notice.auto_submitted) == (("a", 3), "support@example.com",
                                                                            "auto-generated")
    assert notice.context["customer"] == {"name": "Mario", "address": "mario@x.org"}


def test_acknowledgement_states_the_first_response_target(config):
    ticket = TicketFacts(7, "Fattura", "new", "high", "support")
    [notice] = plan(config, Event("ticket_received", "customer", "mario@x.org", 7), ticket,
                    [Person("mario@x.org", contact=1)], MailFacts(), NOW, lambda language: language)
    assert notice.context["response_time"] == 3600                          # sla.first_response_high
    assert notice.context["due"] == "2026-11-20T18:00:00+00:00"
    assert (notice.reply_role, notice.auto_submitted) == (("c", 1), "auto-replied")


def test_notices_that_expect_no_answer_come_from_the_no_reply_address(config):
    [notice] = plan(config, Event("ticket_closed", "customer", "mario@x.org", 7),
                    TicketFacts(7, "Fattura", "closed", "low", "support"), [Person("mario@x.org", contact=1)],
                    None, NOW, lambda language: language)
    assert (notice.from_addr, notice.reply_role) == ("noreply@example.com", None)
    assert set(KINDS) == {"ticket_received", "agent_reply", "ticket_solved", "inactivity_reminder",
                          "closed_inactivity", "ticket_closed", "reply_rejected", "flood_notice",
                          "new_ticket", "customer_reply", "sla_warning", "sla_breach", "command_error",
                          "delivery_failed"}


# -- the composed mail -----------------------------------------------------------------

def headers(**overrides) -> Headers:
    values = dict(from_addr="support@example.com", from_name="Giulia via Example Support",
                  to_addr="mario@example.org", to_name="Mario Rossi",
                  message_id="<mg.7.9.abcdefghij@example.com>", date=NOW,
                  reply_to="support+mgtoken@example.com", in_reply_to="<first@example.org>",
                  references=("<first@example.org>",), auto_submitted="auto-replied", language="it")
    values.update(overrides)
    return Headers(**values)


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


def test_composed_mail_is_multipart_alternative_and_threads():
    mail = parsed(compose(Rendered("Oggetto è qui", "testo", "<p>testo</p>"), headers()))
    assert mail.get_content_type() == "multipart/alternative"
    assert (mail["In-Reply-To"], mail["References"]) == ("<first@example.org>", "<first@example.org>")
    assert (mail["Subject"], mail["Content-Language"], mail["X-Auto-Response-Suppress"]) == (
        "Oggetto è qui", "it", "All")


@pytest.mark.parametrize("field, value", [
    ("to_name", "Mario\r\nBcc: evil@example.net"),
    ("to_name", "=?utf-8?q?Mario=0D=0ABcc:_evil@example.net?="),
    ("from_name", "=?utf-8?b?TWFyaW8NCkJjYzogZXZpbEBleGFtcGxlLm5ldA==?="),
    ("in_reply_to", "<=?utf-8?q?a=0D=0ABcc:_evil@example.net?=>"),
])
def test_no_value_adds_a_header(field, value):
    raw = compose(Rendered("ok", "t", "<p>t</p>"), headers(**{field: value}))
    head = raw.split(b"\r\n\r\n")[0]
    assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))
    assert "bcc" not in {name.lower() for name in parsed(raw).keys()}


def test_an_encoded_word_in_a_subject_stays_text():
    raw = compose(Rendered("Re: =?utf-8?q?x=0D=0ABcc:_evil@example.net?=", "t", "<p>t</p>"), headers())
    assert "bcc" not in {name.lower() for name in parsed(raw).keys()}
    assert "?q?x=0D=0ABcc:_evil@example.net?=" in str(parsed(raw)["Subject"])   # shown as typed


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl, to make a DKIM key, is not installed")
def test_dkim_signature_verifies_with_the_public_key(tmp_path):
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    raw = dkim_sign(compose(Rendered("Ciao", "testo", "<p>testo</p>"), headers()), "mg2026", "example.com",
                    key.read_bytes())
    dns = {b"mg2026._domainkey.example.com.": record}
    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: dns.get(name))
    assert not dkim.verify(raw.replace(b"testo", b"TESTO"), dnsfunc=lambda name, timeout=5: dns.get(name))


def test_an_address_that_is_not_ascii_gets_an_internationalised_mail():
    raw = compose(Rendered("Oggetto", "testo", "<p>testo</p>"), headers(to_addr="анна@пример.рф", to_name="Анна"))
    head = raw.split(b"\r\n\r\n")[0].decode("utf-8")
    assert "To: Анна <анна@пример.рф>" in head.splitlines()
    assert message_from_bytes(raw, policy=policy.SMTPUTF8).get_content_type() == "multipart/alternative"


@pytest.mark.parametrize("to", ["jose@example.org", "josé@example.org"])
def test_a_name_with_commas_and_brackets_stays_one_address_and_lines_stay_short(to):
    name = "Иван Петров, Bob <evil@attacker.example>, Carol Ann Smith-Jones of the Accounting Department"
    raw = compose(Rendered("Oggetto", "x" * 1500, "<p>" + "y" * 1500 + "</p>"), headers(to_addr=to, to_name=name))
    mail = message_from_bytes(raw, policy=policy.SMTPUTF8)
    assert len(mail["To"].addresses) == 1 and "evil@attacker.example" not in {
        a.addr_spec for a in mail["To"].addresses}
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_the_expected_answer_counts_the_queues_business_hours(tmp_path):
    config = build_config(config_document(tmp_path / "data", queues=[
        {"name": "support", "addresses": ["support@example.com"], "timezone": "Europe/Moscow",
         "hours": "Mon-Fri 10:00-19:00", "holidays": "RU"}]))
    friday_evening = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc)                   # 20:00 in Moscow
    [notice] = plan(config, Event("ticket_received", "customer", "mario@x.org", 7),
                    TicketFacts(7, "Счёт", "new", "high", "support"), [Person("mario@x.org", contact=1)],
                    MailFacts(), friday_evening, lambda language: language)
    assert notice.context["due"] == "2026-11-23T08:00:00+00:00"                             # Monday 11:00
    assert notice.context["response_time"] == 3600                                           # one business hour
