"""Signed reply tokens, Message-IDs, VERP addresses and links (SPEC §4.0)."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest

from mailgate.config import build_config
from mailgate.mail.addresses import OurAddresses
from mailgate.mail.tokens import ReplyClaim, Signer
from tests.conftest import config_document

KEY = "k" * 40
OLD = "o" * 40
TODAY = date(2026, 11, 21)


@pytest.fixture
def signer():
    return Signer(KEY)


def test_reply_token_round_trips_and_fits_a_lowercase_local_part(signer):
    token = signer.reply_token(1234567, "c", 89)
    assert re.fullmatch(r"[a-z2-7]+", token) and len(f"support+{token}") <= 64    # RFC 5321 local part
    assert signer.read_reply_token(token, TODAY) == ReplyClaim(1234567, "c", 89)
    assert signer.read_reply_token(signer.reply_token(5, "a", 2), TODAY) == ReplyClaim(5, "a", 2)


def test_reply_token_survives_an_mta_that_upper_cases_local_parts(signer, tmp_path):
    token = signer.reply_token(7, "c", 3)
    ours = OurAddresses.from_config(build_config(config_document(tmp_path)))
    recipient = ours.classify(f"SUPPORT+{token.upper()}@EXAMPLE.COM")
    assert signer.read_reply_token(recipient.detail, TODAY) == ReplyClaim(7, "c", 3)


def test_changing_any_character_of_a_token_breaks_it(signer):
    token = signer.reply_token(7, "c", 3)
    for index in range(len("mg"), len(token)):
        for other in "a7":
            if other != token[index]:
                changed = token[:index] + other + token[index + 1:]
                assert signer.read_reply_token(changed, TODAY) is None, (index, other)


def test_token_for_another_ticket_cannot_be_made_without_the_key(signer):
    forger = Signer("f" * 40)
    assert signer.read_reply_token(forger.reply_token(7, "c", 3), TODAY) is None


@pytest.mark.parametrize("detail", [
    "", "mg", "mgx", "mg" + "a" * 28, "mg" + "a" * 30, "mg" + "a" * 200,
    "mg" + "1" * 29,                        # 0, 1, 8, 9 are not base32
    "mgäöü" + "a" * 26, "mg\u0430" * 10,    # non-ASCII
    "mg" + "a" * 14 + "=" + "a" * 14,
])
def test_token_of_wrong_length_or_alphabet_is_refused_not_an_error(signer, detail):
    assert signer.read_reply_token(detail, TODAY) is None


def test_plain_aliases_are_not_taken_for_tokens():
    assert not Signer.looks_like_token("urgent")
    assert not Signer.looks_like_token("")
    assert Signer.looks_like_token("mgxbogusbogusbogus")


def test_previous_key_is_accepted_until_its_last_day():
    old_token = Signer(OLD).reply_token(7, "c", 3)
    rotated = Signer(KEY, previous=OLD, previous_until=TODAY)
    assert rotated.read_reply_token(old_token, TODAY) == ReplyClaim(7, "c", 3)
    assert rotated.read_reply_token(old_token, date(2026, 11, 22)) is None
    assert Signer(KEY).read_reply_token(old_token, TODAY) is None


def test_message_id_names_ticket_and_outbox_entry_and_detects_forgery(signer):
    message_id = signer.message_id(42, 7, "example.com")
    assert re.fullmatch(r"<mg\.42\.7\.[a-z2-7]{10}@example\.com>", message_id)
    assert signer.read_message_id(message_id, TODAY) == (42, 7)
    forged = message_id.replace("<mg.42.", "<mg.43.")
    assert signer.read_message_id(forged, TODAY) is False
    assert signer.read_message_id("<CAF=abc@mail.gmail.com>", TODAY) is None


def test_verp_detail_round_trips_and_refuses_tampering(signer):
    detail = signer.verp_detail(31)
    assert signer.read_verp_detail(detail, TODAY) == 31
    assert signer.read_verp_detail(detail.replace("31-", "32-"), TODAY) is None
    assert signer.read_verp_detail("31", TODAY) is None
    assert signer.read_verp_detail("x" * 500, TODAY) is None


def test_link_key_expires(signer):
    now = datetime(2026, 11, 21, 10, tzinfo=timezone.utc)
    link = signer.link("https://support.example.com", 42, 9, now, days=30)
    assert link.startswith("https://support.example.com/t/42?k=")
    key = link.partition("?k=")[2]
    assert signer.read_link_key(key, TODAY) == (42, 9)
    assert signer.read_link_key(key, date(2026, 12, 21)) == (42, 9)
    assert signer.read_link_key(key, date(2026, 12, 22)) is None
    assert signer.read_link_key(key[:-1] + ("a" if key[-1] != "a" else "b"), TODAY) is None
