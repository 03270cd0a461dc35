"""Subject tags and prefixes; which recipients are ours."""

from __future__ import annotations

import pytest

from mailgate.config import build_config
from mailgate.mail.addresses import OurAddresses, envelope_recipients
from mailgate.mail.subject import find_tag, format_tag, remove_tag, strip_prefixes
from tests.conftest import config_document


@pytest.mark.parametrize("subject, stripped", [
    ("Re: Fattura", "Fattura"),
    ("RE: AW: Fwd: Rechnung", "Rechnung"),
    ("R: RIF: I: Ordine 12", "Ordine 12"),
    ("TR: Problème", "Problème"),
    ("RV: Consulta", "Consulta"),
    ("Ответ: Отв: Счёт", "Счёт"),
    ("SV: VS: Tilbud", "Tilbud"),
    ("Re[3]: loop", "loop"),
    ("Antw: WG: status", "status"),
    ("Reminder: meeting", "Reminder: meeting"),
    ("Re:", ""),
])
def test_reply_and_forward_prefixes_of_many_languages(subject, stripped):
    assert strip_prefixes(subject) == stripped


def test_subject_tag_round_trip_and_custom_format():
    assert format_tag("[#{number}]", 42) == "[#42]"
    assert find_tag("[#{number}]", "Re: [#42] Fattura") == 42
    assert find_tag("[#{number}]", "Fwd: [#7] old [#42] new") == 42
    assert find_tag("[#{number}]", "Ticket 42") is None
    assert find_tag("(Ticket {number})", "Re: help (Ticket 9)") == 9
    assert remove_tag("[#{number}]", "Re: [#42]  Fattura") == "Re: Fattura"


@pytest.fixture
def ours(tmp_path) -> OurAddresses:
    return OurAddresses.from_config(build_config(config_document(tmp_path)))


def test_support_addresses_with_plus_suffix_noreply_and_bounce_are_ours(ours):
    assert ours.classify("Support@Example.COM").queue == "support"
    plus = ours.classify("billing+abc123@example.com")
    assert (plus.kind, plus.queue, plus.detail) == ("support", "billing", "abc123")
    assert ours.classify("noreply@example.com").kind == "noreply"
    assert ours.classify("bounces+17@example.com").kind == "bounce"
    assert ours.classify("support@example.com.evil.test") is None
    assert ours.classify("someone@example.com") is None
    assert ours.classify("not an address") is None


def test_recipient_comes_from_the_envelope_then_headers_in_order(ours):
    found, source = envelope_recipients(ours, ["billing@example.com"], [["support@example.com"], [], []])
    assert ([r.queue for r in found], source) == (["billing"], "envelope")
    found, source = envelope_recipients(ours, [], [["x@gmail.test"], ["billing@example.com"], ["support@example.com"]])
    assert ([r.queue for r in found], source) == (["billing"], "x_original_to")
    found, source = envelope_recipients(ours, [], [[], [], ["friend@x.test", "helpdesk@example.com"]])
    assert ([r.address for r in found], source) == (["helpdesk@example.com"], "to_cc")
    assert envelope_recipients(ours, [], [[], [], ["friend@x.test"]]) == ([], "none")
