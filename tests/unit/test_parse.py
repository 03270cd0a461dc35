"""Parsing with literal messages: encodings, names, bodies, identity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailgate.mail.parse import ParseError, parse_mail


def parse(raw: bytes, limit: int = 1 << 30):
    return parse_mail(raw, max_attachment_size=limit)


def mail(headers: str, body: str = "hello\r\n") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode("utf-8")


def test_rfc2047_subjects_and_names_in_several_charsets():
    parsed = parse(mail("""
From: =?iso-8859-1?Q?Fran=E7ois_Lef=E8vre?= <francois@example.fr>
To: support@example.com
Subject: =?utf-8?B?0J3QtSDRgNCw0LHQvtGC0LDQtdGCINCy0YXQvtC0?= =?koi8-r?Q?=D3=C5=D2=D7=C9=D3?=
"""))
    assert parsed.from_name == "François Lefèvre"
    assert parsed.from_addr == "francois@example.fr"
    assert parsed.subject == "Не работает входсервис"


def test_raw_8bit_subject_is_read_with_the_charset_of_the_body():
    raw = ("From: a@example.ru\r\nSubject: Счёт\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
           "Здравствуйте\r\n").encode("koi8-r")
    parsed = parse(raw)
    assert (parsed.subject, parsed.text) == ("Счёт", "Здравствуйте")


def test_declared_charset_that_does_not_fit_falls_back_to_its_sibling():
    # ISO-2022-JP label on Shift_JIS bytes, as some Japanese mailers write it.
    parsed = parse(b"From: =?ISO-2022-JP?B?g2OBW4OL?= <tool@example.jp>\r\nSubject: x\r\n\r\nhi\r\n")
    assert parsed.from_name == "ツール"


def test_body_without_charset_in_latin1_is_repaired():
    parsed = parse(b"From: a@example.de\r\nSubject: x\r\n\r\nGr\xfc\xdfe aus M\xfcnchen\r\n")
    assert parsed.text == "Grüße aus München"


def test_rfc2231_attachment_name_is_decoded_and_unsafe_names_made_safe():
    raw = mail("""
From: a@example.org
Subject: files
Content-Type: multipart/mixed; boundary=B
""", """--B
Content-Type: text/plain

see attached
--B
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20Rechnung%20M%C3%A4rz.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--B
Content-Type: text/plain
Content-Disposition: attachment; filename="..\\\\..\\\\windows\\\\evil:name?.bat"

echo
--B
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="/etc/passwd"

root
--B
Content-Type: image/png
Content-ID: <image001.png@01D9A1B2.C3D4E5F0>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--B--
""".replace("\n", "\r\n"))
    parsed = parse(raw)
    names = [a.filename for a in parsed.attachments]
    assert names == ["€ Rechnung März.pdf", "evil_name_.bat", "passwd", "image001.png"]
    pdf, _, _, image = parsed.attachments
    assert (pdf.content_type, pdf.size, pdf.payload) == ("application/pdf", 9, b"%PDF-1.4\n")
    assert image.inline and image.content_id == "image001.png@01D9A1B2.C3D4E5F0"
    assert parsed.text == "see attached"


def test_html_only_mail_gets_a_text_rendering_and_sanitised_html():
    parsed = parse(mail("""
From: a@example.org
Subject: html
Content-Type: text/html; charset=utf-8
""", "<p>Buongiorno,</p><p>il pagamento <b>non</b> funziona.<script>steal()</script></p>"
     "<a href='javascript:alert(1)' onclick='x()'>link</a><img src='cid:logo'>"))
    assert parsed.text == "Buongiorno,\n\nil pagamento non funziona.\n\nlink"
    assert "script" not in parsed.html and "javascript" not in parsed.html and "onclick" not in parsed.html
    assert '<img src="cid:logo">' in parsed.html


def test_outlook_from_without_address_falls_back_to_reply_to():
    parsed = parse(mail("""
From: "Anna Bianchi" <>
Reply-To: anna@example.it
Subject: x
"""))
    assert (parsed.from_name, parsed.from_addr) == ("Anna Bianchi", "anna@example.it")


def test_from_without_angle_brackets_is_recovered():
    parsed = parse(mail("From: Test test@example.com\nSubject: x"))
    assert (parsed.from_name, parsed.from_addr) == ("Test", "test@example.com")


def test_mailer_daemon_sender_is_recognised():
    parsed = parse(mail("From: MAILER-DAEMON (Mail Delivery System)\nSubject: Undelivered"))
    assert (parsed.from_name, parsed.from_addr) == ("Mail Delivery System", "mailer-daemon")


def test_date_keeps_the_senders_offset_and_bad_dates_are_none():
    parsed = parse(mail("From: a@example.org\nDate: Fri, 20 Nov 2026 18:50:00 +0300\nSubject: x"))
    assert parsed.date.utcoffset() == timedelta(hours=3) and parsed.date.hour == 18
    assert parse(mail("From: a@example.org\nDate: yesterday-ish\nSubject: x")).date is None


def test_message_ids_and_references():
    refs = " ".join(f"<r{n}@example.org>" for n in range(300))
    parsed = parse(mail(f"""
From: a@example.org
Message-ID: no-brackets@example.org
In-Reply-To: <r299@example.org> (from the last one)
References: {refs}
Subject: x
"""))
    assert parsed.message_id == "<no-brackets@example.org>"
    assert parsed.in_reply_to == ("<r299@example.org>",)
    assert len(parsed.references) == 100 and parsed.references[-1] == "<r299@example.org>"


def test_nul_bytes_never_reach_the_text():
    parsed = parse(b"From: a@example.org\r\nSubject: a\x00b\r\n\r\nc\x00d\r\n")
    assert (parsed.subject, parsed.text) == ("ab", "cd")


def test_attachment_over_the_limit_is_listed_but_not_kept():
    raw = mail("From: a@example.org\nSubject: x\nContent-Type: multipart/mixed; boundary=B",
               "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\nContent-Type: application/zip\r\n"
               "Content-Disposition: attachment; filename=big.zip\r\n\r\n" + "z" * 5000 + "\r\n--B--\r\n")
    [attachment] = parse(raw, limit=1000).attachments
    assert (attachment.filename, attachment.stored, attachment.payload) == ("big.zip", False, None)
    assert attachment.size == 5000


def test_same_content_over_two_transports_has_the_same_digest():
    body = mail("From: a@example.org\nSubject: x\nDate: Fri, 20 Nov 2026 10:00:00 +0100")
    via_smtp = b"Received: from mx1 by us; Fri, 20 Nov 2026 10:00:01 +0100\r\n" + body
    via_imap = b"Delivered-To: support@example.com\r\nReceived: from imap\r\n" + body
    assert parse(via_smtp).content_digest == parse(via_imap).content_digest
    changed = body.replace(b"hello", b"hallo")
    assert parse(changed).content_digest != parse(body).content_digest


def test_nesting_deeper_than_the_parser_allows_is_a_parse_error():
    inner = b"Content-Type: text/plain\r\n\r\nx\r\n"
    for level in range(1500):
        b = b"b%d" % level
        inner = b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + inner + b"\r\n--" + b + b"--\r\n"
    with pytest.raises(ParseError) as error:
        parse(b"From: a@example.org\r\n" + inner)
    assert error.value.reason == "parse_error:nesting_too_deep"
