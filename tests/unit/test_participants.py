"""Who may continue a ticket (SPEC §4.3), with literal mails and configs."""

from __future__ import annotations

from mailgate.config import build_config
from mailgate.domain import TicketRef
from mailgate.mail.addresses import OurAddresses
from mailgate.mail.parse import parse_mail
from mailgate.participants import first_mail_participants, reply_address, standing
from tests.conftest import config_document


def config(tmp_path, **extra):
    return build_config(config_document(tmp_path, **extra))


def mail(headers: str):
    text = "From: Mario <mario@acme.example>\nSubject: x\n" + headers
    return parse_mail((text.strip().replace("\n", "\r\n") + "\r\n\r\nhi").encode(), max_attachment_size=100)


def participants(cfg, headers: str) -> dict[str, str]:
    ours = OurAddresses.from_config(cfg)
    return first_mail_participants(cfg, mail(headers), "mario@acme.example", lambda a: ours.classify(a) is not None)


def test_cc_of_the_first_mail_takes_part_but_not_other_to_addresses(tmp_path):
    found = participants(config(tmp_path), "To: support@example.com, team@acme.example\nCc: Luca <luca@other.example>")
    assert found == {"luca@other.example": "cc"}


def test_our_addresses_and_agents_never_become_participants(tmp_path):
    cfg = config(tmp_path, agents=[{"name": "Giulia", "address": "giulia@example.com"}])
    found = participants(cfg, "To: support@example.com\nCc: billing@example.com, support+x@example.com, "
                              "noreply@example.com, giulia@example.com, mario@acme.example")
    assert found == {}


def test_cc_participants_can_be_switched_off_but_reply_to_still_counts(tmp_path):
    cfg = config(tmp_path, conversation={"cc_participants": False})
    found = participants(cfg, "To: support@example.com\nCc: luca@other.example\nReply-To: mario.home@mail.example")
    assert found == {"mario.home@mail.example": "reply_to"}


def test_answers_go_to_reply_to_when_given():
    assert reply_address(mail("Reply-To: mario.home@mail.example"), "mario@acme.example") == "mario.home@mail.example"
    assert reply_address(mail(""), "mario@acme.example") == "mario@acme.example"


def test_standing_order_requester_participant_agent_colleague(tmp_path):
    cfg = config(tmp_path, agents=[{"name": "Giulia", "address": "giulia@example.com"}],
                 organisations=[{"name": "Acme", "domains": ["acme.example"], "share_tickets": True}])
    ticket = TicketRef(1, "open", "support", "mario@acme.example", frozenset({"luca@other.example"}))
    assert [standing(cfg, who, ticket) for who in (
        "mario@acme.example", "luca@other.example", "giulia@example.com", "anna@sales.acme.example",
        "eve@evil.example", "eve@notacme.example")] == [
        "requester", "participant", "agent", "colleague", None, None]
