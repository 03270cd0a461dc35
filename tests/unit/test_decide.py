"""Threading and decisions with literal candidates: no database, no sockets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mailgate.config import build_config
from mailgate.decide import decide
from mailgate.domain import Candidates, Inbound, TicketRef
from mailgate.mail.addresses import OurAddresses
from mailgate.mail.parse import parse_mail
from mailgate.matching import dedup_key, thread_ids
from tests.conftest import config_document

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def config(tmp_path):
    return build_config(config_document(tmp_path))


def parsed(headers: str = "", body: str = "hi"):
    text = "From: Mario <mario@example.org>\nTo: support@example.com\nSubject: Aiuto\n" + headers
    return parse_mail((text.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode(),
                      max_attachment_size=1 << 20)


def run(config, mail, candidates=Candidates(), rcpt=("support@example.com",), mail_from="mario@example.org"):
    inbound = Inbound(raw=b"", source="test", received_at=NOW, mail_from=mail_from, rcpt_tos=rcpt)
    recipients = OurAddresses.from_config(config).classify_all(rcpt)
    return decide(config, inbound, mail, recipients, "envelope" if recipients else "none", candidates)


def test_new_mail_opens_a_ticket_in_the_queue_of_its_address(config):
    decision = run(config, parsed(), rcpt=("billing@example.com",))
    assert (decision.action, decision.queue, decision.priority, decision.new_status) == ("new_ticket", "billing", "high", "new")
    assert decision.rule_hits == ("recipient:envelope", "queue:billing")


def test_references_win_over_the_subject_tag(config):
    candidates = Candidates(referenced=(TicketRef(7, "pending", "support"),), tagged=TicketRef(9, "open", "support"),
                            tag_number=9)
    decision = run(config, parsed(), candidates)
    assert (decision.action, decision.ticket, decision.matched_by) == ("comment", 7, "references")
    assert decision.new_status == "open"       # the customer answered a ticket waiting on them


def test_subject_tag_threads_when_nothing_is_referenced(config):
    decision = run(config, parsed(), Candidates(tagged=TicketRef(9, "new", "billing"), tag_number=9))
    assert (decision.action, decision.ticket, decision.matched_by, decision.new_status) == ("comment", 9, "subject_tag", None)
    assert decision.queue == "billing"


def test_tag_of_a_ticket_that_does_not_exist_opens_a_new_one(config):
    decision = run(config, parsed(), Candidates(tag_number=4242))
    assert decision.action == "new_ticket" and "subject_tag:unknown_ticket" in decision.rule_hits


def test_reply_to_a_closed_ticket_is_rejected_not_added(config):
    decision = run(config, parsed(), Candidates(referenced=(TicketRef(3, "closed", "support"),)))
    assert (decision.action, decision.reason, decision.ticket) == ("rejected", "off_thread:closed", 3)


def test_repeat_is_a_duplicate_of_the_first_copy(config):
    decision = run(config, parsed(), Candidates(duplicate_of=11, duplicate_ticket=5))
    assert (decision.action, decision.ticket, decision.duplicate_of) == ("duplicate", 5, 11)


def test_mail_to_the_noreply_address_is_rejected(config):
    decision = run(config, parsed(), rcpt=("noreply@example.com",))
    assert (decision.action, decision.reason) == ("rejected", "off_thread:no_reply")


def test_several_queues_the_first_in_config_order_owns_the_ticket(config):
    decision = run(config, parsed(), rcpt=("billing@example.com", "helpdesk@example.com"))
    assert decision.queue == "support"


def test_no_recipient_of_ours_falls_back_to_the_first_queue(config):
    decision = run(config, parsed(), rcpt=())
    assert decision.queue == "support" and "recipient:default_queue" in decision.rule_hits


def test_no_sender_anywhere_is_quarantined(config):
    mail = parse_mail(b"Subject: x\r\n\r\nbody\r\n", max_attachment_size=100)
    decision = run(config, mail, mail_from="")
    assert (decision.action, decision.reason) == ("quarantined", "no_sender")


def test_thread_ids_put_in_reply_to_first_then_newest_references():
    mail = parsed("Message-ID: <me@x>\nIn-Reply-To: <b@x>\nReferences: <a@x> <b@x> <me@x>")
    assert thread_ids(mail) == ["<b@x>", "<a@x>"]


def test_dedup_key_depends_on_message_id_sender_and_content():
    inbound = Inbound(raw=b"", source="t", received_at=NOW)
    one = parsed("Message-ID: <1@x>", "hello")
    assert dedup_key(one, inbound) == dedup_key(parsed("Message-ID: <1@x>", "hello"), inbound)
    assert dedup_key(one, inbound) != dedup_key(parsed("Message-ID: <1@x>", "other"), inbound)
    assert dedup_key(one, inbound) != dedup_key(parsed("Message-ID: <2@x>", "hello"), inbound)
