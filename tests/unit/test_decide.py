"""Threading and decisions with literal candidates: no database, no sockets."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mailgate.config import build_config
from mailgate.decide import decide, normalised_subject
from mailgate.domain import Candidates, FailedRecipient, Inbound, RecentTicket, TicketRef
from mailgate.mail.addresses import OurAddresses
from mailgate.mail.parse import parse_mail
from mailgate.matching import dedup_key, thread_ids
from tests.conftest import config_document

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
MARIO = "mario@example.org"


@pytest.fixture
def config(tmp_path):
    return build_config(config_document(tmp_path))


def configured(tmp_path, **extra):
    return build_config(config_document(tmp_path, **extra))


def parsed(headers: str = "", body: str = "hi", sender: str = f"Mario <{MARIO}>", subject: str = "Aiuto"):
    text = f"From: {sender}\nTo: support@example.com\nSubject: {subject}\n" + headers
    return parse_mail((text.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode(),
                      max_attachment_size=1 << 20)


def ref(number: int, status: str = "open", queue: str = "support", requester: str = MARIO,
        participants: tuple[str, ...] = ()) -> TicketRef:
    return TicketRef(number, status, queue, requester, frozenset(participants))


def run(config, mail, candidates=Candidates(), rcpt=("support@example.com",), mail_from=MARIO):
    inbound = Inbound(raw=b"", source="test", received_at=NOW, mail_from=mail_from, rcpt_tos=rcpt)
    recipients = OurAddresses.from_config(config).classify_all(rcpt)
    return decide(config, inbound, mail, recipients, "envelope" if recipients else "none", candidates, NOW)


def kinds(decision) -> list[str]:
    return [event.kind for event in decision.events]


def to_customer(decision) -> tuple:
    """The automatic mails the sender of the message would get."""
    return tuple(event for event in decision.events if event.audience == "customer")


# -- matching (SPEC §4.1) -------------------------------------------------------

def test_new_mail_opens_a_ticket_in_the_queue_of_its_address_with_an_acknowledgement(config):
    decision = run(config, parsed(), rcpt=("billing@example.com",))
    assert (decision.action, decision.queue, decision.priority, decision.new_status) == ("new_ticket", "billing", "high", "new")
    assert decision.rule_hits == ("recipient:envelope", "queue:billing")
    assert [(e.kind, e.recipient, e.ticket) for e in decision.events] == [
        ("ticket_received", MARIO, None), ("new_ticket", None, None)]     # the agents hear of it too


def test_acknowledgement_goes_to_the_reply_to_address(config):
    decision = run(config, parsed("Reply-To: mario.rossi@work.example.org"))
    assert decision.events[0].recipient == "mario.rossi@work.example.org"


def test_token_wins_over_references_and_subject_tag(config):
    candidates = Candidates(token="valid", token_ticket=ref(5), token_role="c",
                            referenced=(ref(7),), tagged=ref(9), tag_number=9)
    decision = run(config, parsed(), candidates)
    assert (decision.action, decision.ticket, decision.matched_by) == ("comment", 5, "token")
    assert "match:token" in decision.rule_hits and "participant:requester" in decision.rule_hits


def test_references_win_over_the_subject_tag(config):
    candidates = Candidates(referenced=(ref(7, "pending"),), tagged=ref(9), tag_number=9)
    decision = run(config, parsed(), candidates)
    assert (decision.action, decision.ticket, decision.matched_by) == ("comment", 7, "references")
    assert decision.new_status == "open"       # the customer answered a ticket waiting on them
    assert kinds(decision) == ["customer_reply"]     # agents are told; no acknowledgement


def test_subject_tag_threads_when_nothing_is_referenced(config):
    decision = run(config, parsed(), Candidates(tagged=ref(9, "new", "billing"), tag_number=9))
    assert (decision.action, decision.ticket, decision.matched_by, decision.new_status) == ("comment", 9, "subject_tag", None)
    assert decision.queue == "billing"


def test_tag_of_a_ticket_that_does_not_exist_opens_a_new_one(config):
    decision = run(config, parsed(), Candidates(tag_number=4242))
    assert decision.action == "new_ticket" and "subject_tag:unknown_ticket" in decision.rule_hits


def test_valid_token_of_a_ticket_that_is_gone_falls_back_to_the_other_rules(config):
    decision = run(config, parsed(), Candidates(token="valid", tagged=ref(9), tag_number=9))
    assert (decision.action, decision.ticket, decision.matched_by) == ("comment", 9, "subject_tag")
    assert "token:unknown_ticket" in decision.rule_hits


def test_forged_message_id_is_noted_and_threads_nothing(config):
    decision = run(config, parsed(), Candidates(forged_reference=True))
    assert decision.action == "new_ticket" and "references:forged_id" in decision.rule_hits


# -- off-thread replies (SPEC §4.2) --------------------------------------------

def test_stranger_answering_with_the_subject_tag_is_rejected_without_a_link(config):
    mail = parsed(sender="Eve <eve@elsewhere.example>")
    decision = run(config, mail, Candidates(tagged=ref(9), tag_number=9, sender_contact=44), mail_from="eve@elsewhere.example")
    assert (decision.action, decision.reason, decision.ticket) == ("rejected", "off_thread:not_participant", 9)
    event = decision.events[0]
    assert (event.kind, event.recipient, event.link_contact) == ("reply_rejected", "eve@elsewhere.example", None)
    assert event.data == {"reason": "off_thread:not_participant", "new_request": True}


def test_reply_to_a_closed_ticket_is_rejected_with_a_link_for_the_requester(config):
    decision = run(config, parsed(), Candidates(referenced=(ref(3, "closed"),), sender_contact=12))
    assert (decision.action, decision.reason, decision.ticket) == ("rejected", "off_thread:closed", 3)
    event = decision.events[0]
    assert (event.kind, event.ticket, event.link_contact) == ("reply_rejected", 3, 12)
    assert "new_request" not in event.data


def test_closed_policy_reopen_adds_the_reply_and_reopens(tmp_path):
    config = configured(tmp_path, queues=[{"name": "support", "addresses": ["support@example.com"],
                                           "closed_policy": "reopen"}])
    decision = run(config, parsed(), Candidates(referenced=(ref(3, "closed"),)))
    assert (decision.action, decision.ticket, decision.new_status) == ("comment", 3, "open")
    assert "closed:reopen" in decision.rule_hits


def test_closed_policy_new_ticket_opens_a_ticket_linked_to_the_closed_one(tmp_path):
    config = configured(tmp_path, queues=[{"name": "support", "addresses": ["support@example.com"],
                                           "closed_policy": "new_ticket"}])
    decision = run(config, parsed(), Candidates(referenced=(ref(3, "closed"),)))
    assert (decision.action, decision.linked_ticket, decision.queue) == ("new_ticket", 3, "support")
    assert kinds(decision) == ["ticket_received", "new_ticket"]


def test_forged_token_is_rejected_as_bad_token(config):
    decision = run(config, parsed(), Candidates(token="invalid"), rcpt=("support+mgxbogus@example.com",))
    assert (decision.action, decision.reason) == ("rejected", "off_thread:bad_token")


def test_bad_token_of_a_participant_still_gets_the_link_through_the_subject_tag(config):
    decision = run(config, parsed(), Candidates(token="invalid", tagged=ref(9), tag_number=9, sender_contact=12))
    assert (decision.reason, decision.ticket) == ("off_thread:bad_token", 9)
    assert decision.events[0].link_contact == 12


def test_mail_to_the_noreply_address_is_rejected(config):
    decision = run(config, parsed(), rcpt=("noreply@example.com",))
    assert (decision.action, decision.reason) == ("rejected", "off_thread:no_reply")
    assert kinds(decision) == ["reply_rejected"]


# -- participants (SPEC §4.3) ---------------------------------------------------

def test_cc_participant_and_agent_may_continue(tmp_path):
    config = configured(tmp_path, agents=[{"name": "Giulia", "address": "giulia@example.com"}])
    ticket = ref(9, participants=("anna@example.org",))
    anna = run(config, parsed(sender="anna@example.org"), Candidates(tagged=ticket, tag_number=9))
    giulia = run(config, parsed(sender="giulia@example.com"), Candidates(tagged=ticket, tag_number=9))
    assert (anna.action, giulia.action) == ("comment", "comment")
    assert "participant:participant" in anna.rule_hits and "participant:agent" in giulia.rule_hits


def test_colleague_may_continue_only_when_the_organisation_shares(tmp_path):
    shared = configured(tmp_path, organisations=[{"name": "Acme", "domains": ["acme.example"], "share_tickets": True}])
    private = configured(tmp_path, organisations=[{"name": "Acme", "domains": ["acme.example"]}])
    candidates = Candidates(tagged=ref(9, requester="boss@acme.example"), tag_number=9)
    colleague = parsed(sender="luca@it.acme.example")
    assert run(shared, colleague, candidates, mail_from="luca@it.acme.example").action == "comment"
    assert run(private, colleague, candidates, mail_from="luca@it.acme.example").reason == "off_thread:not_participant"


def test_dmarc_fail_from_a_trusted_mta_makes_the_requester_no_participant(tmp_path):
    config = configured(tmp_path, conversation={"trusted_authserv_ids": "mx.example.com"})
    forged = "Authentication-Results: mx.example.com; dmarc=fail header.from=example.org"
    decision = run(config, parsed(forged), Candidates(tagged=ref(9), tag_number=9))
    assert (decision.action, decision.reason) == ("rejected", "off_thread:not_participant")
    assert decision.events == () and "auth:dmarc_fail" in decision.rule_hits   # no backscatter


def test_dmarc_fail_from_an_untrusted_mta_is_ignored(tmp_path):
    config = configured(tmp_path, conversation={"trusted_authserv_ids": "mx.example.com"})
    decision = run(config, parsed("Authentication-Results: evil.example; dmarc=fail"),
                   Candidates(tagged=ref(9), tag_number=9))
    assert decision.action == "comment"


def test_new_mail_failing_dmarc_opens_an_unauthenticated_ticket_without_acknowledgement(tmp_path):
    config = configured(tmp_path, conversation={"trusted_authserv_ids": "mx.example.com"})
    decision = run(config, parsed("Authentication-Results: mx.example.com; spf=fail; dmarc=fail"))
    assert (decision.action, decision.flags, to_customer(decision)) == ("new_ticket", ("unauthenticated",), ())


# -- automatic mail (SPEC §4.4) -------------------------------------------------

def test_out_of_office_on_a_ticket_is_an_automatic_comment_that_changes_nothing(config):
    ooo = parsed("Auto-Submitted: auto-replied", subject="Fuori sede")
    decision = run(config, ooo, Candidates(referenced=(ref(7, "pending"),)))
    assert (decision.action, decision.visibility, decision.new_status, decision.events) == ("comment", "automatic", None, ())
    assert "auto:out_of_office" in decision.rule_hits


def test_automatic_mail_matching_no_ticket_opens_an_auto_ticket_without_acknowledgement(config):
    decision = run(config, parsed("Precedence: bulk", sender="alerts@monitoring.example"),
                   mail_from="alerts@monitoring.example")
    assert (decision.action, decision.flags, kinds(decision)) == ("new_ticket", ("auto",), ["new_ticket"])
    assert "auto_reply:to_automatic_mail" in decision.rule_hits


def test_automatic_mail_to_a_closed_ticket_is_rejected_silently_whatever_the_policy(tmp_path):
    config = configured(tmp_path, queues=[{"name": "support", "addresses": ["support@example.com"],
                                           "closed_policy": "reopen"}])
    decision = run(config, parsed("Auto-Submitted: auto-replied"), Candidates(referenced=(ref(3, "closed"),)))
    assert (decision.action, decision.reason, decision.events) == ("rejected", "off_thread:closed", ())


def test_hourly_limit_stops_acknowledgements(config):
    decision = run(config, parsed(), Candidates(automatic_sent={"ticket_received": 3, "reply_rejected": 2}))
    assert decision.action == "new_ticket" and to_customer(decision) == ()
    assert "auto_reply:limit" in decision.rule_hits


def test_suppressed_address_gets_no_acknowledgement(config):
    decision = run(config, parsed(), Candidates(suppressed=True))
    assert to_customer(decision) == () and "auto_reply:address_suppressed" in decision.rule_hits


def dsn(status: str = "5.1.1"):
    mail = parsed("Content-Type: multipart/report; report-type=delivery-status; boundary=b",
                  sender="MAILER-DAEMON@mx.example.org")
    failed = (FailedRecipient(MARIO, status, status.startswith("5")),)
    return replace(mail, failed_recipients=failed)


def test_hard_bounce_to_our_verp_address_marks_the_entry_failed_and_suppresses_its_recipient(config):
    candidates = Candidates(bounce_outbox=31, bounce_ticket=7, bounce_recipient=MARIO, bounce_matched_by="verp")
    decision = run(config, dsn(), candidates, rcpt=("bounces+31-abcdefgh@example.com",), mail_from="")
    assert (decision.action, decision.reason, decision.bounce_outbox, decision.suppress) == ("bounce", "bounce:hard", 31, (MARIO,))
    assert [(e.kind, e.audience, e.ticket, e.data["address"]) for e in decision.events] == [("delivery_failed", "agents", 7, MARIO)]


def test_soft_failure_marks_the_entry_failed_without_suppressing(config):
    candidates = Candidates(bounce_outbox=31, bounce_ticket=7, bounce_recipient=MARIO, bounce_matched_by="verp")
    decision = run(config, dsn("4.2.2"), candidates, rcpt=("bounces+31-abcdefgh@example.com",), mail_from="")
    assert (decision.reason, decision.bounce_outbox, decision.suppress) == ("bounce:soft", 31, ())


def test_bounce_we_cannot_tie_to_our_mail_suppresses_nobody(config):
    decision = run(config, dsn(), Candidates(), rcpt=("bounces@example.com",), mail_from="")
    assert (decision.action, decision.reason, decision.suppress, decision.events) == ("bounce", "bounce:unmatched", (), ())


def test_report_sent_to_the_support_address_is_a_bounce_not_a_ticket(config):
    decision = run(config, dsn(), Candidates(), mail_from="")
    assert decision.action == "bounce"


def test_our_own_notice_coming_back_is_automatic(config):
    decision = run(config, parsed(sender="support@example.com"), mail_from="support@example.com")
    assert "auto:from_us" in decision.rule_hits and to_customer(decision) == ()


# -- flood and same topic (SPEC §4.5) ------------------------------------------

def recent(number: int, minutes_ago: int, subject: str = "Other", text: str = "something else", status: str = "open"):
    return RecentTicket(ref(number, status), subject, text, NOW - timedelta(minutes=minutes_ago))


def test_eleventh_new_ticket_in_an_hour_is_held_as_flood_with_one_notice(config):
    ten = tuple(recent(n, n) for n in range(1, 11))
    decision = run(config, parsed(), Candidates(recent=ten))
    assert (decision.action, decision.reason, kinds(decision)) == ("quarantined", "flood", ["flood_notice"])
    again = run(config, parsed(), Candidates(recent=ten, automatic_sent={"flood_notice": 1}))
    assert (again.reason, again.events) == ("flood", ())
    # The acknowledgements of the first tickets used up the hourly limit; the notice still goes.
    used_up = run(config, parsed(), Candidates(recent=ten, automatic_sent={"ticket_received": 5}))
    assert kinds(used_up) == ["flood_notice"]


def test_tickets_older_than_an_hour_do_not_count_as_flood(config):
    decision = run(config, parsed(), Candidates(recent=tuple(recent(n, 61 + n) for n in range(20))))
    assert decision.action == "new_ticket"


def test_same_subject_and_near_identical_text_joins_the_open_ticket(config):
    text = "La fattura di ottobre riporta un importo sbagliato, potete correggerla?"
    mail = parsed(subject="Re: Fattura  sbagliata", body=text + "\r\nGrazie")
    candidates = Candidates(recent=(recent(4, 120, "Fattura sbagliata", text + "\nGrazie!"),))
    decision = run(config, mail, candidates)
    assert (decision.action, decision.ticket, decision.matched_by, decision.flags) == ("comment", 4, "same_topic", ("possible_duplicate",))


def test_same_subject_with_different_text_opens_a_new_ticket(config):
    mail = parsed(subject="Fattura sbagliata", body="Un altro problema: la consegna non è arrivata.")
    candidates = Candidates(recent=(recent(4, 120, "Fattura sbagliata", "La fattura di ottobre è sbagliata."),))
    assert run(config, mail, candidates).action == "new_ticket"


def test_same_topic_ignores_closed_tickets_and_those_older_than_a_day(config):
    text = "La fattura di ottobre è sbagliata."
    mail = parsed(subject="Fattura", body=text)
    closed = recent(4, 60, "Fattura", text, status="closed")
    old = recent(5, 25 * 60, "Fattura", text)
    assert run(config, mail, Candidates(recent=(closed, old))).action == "new_ticket"


def test_normalised_subject_drops_prefixes_tag_case_and_spacing(config):
    assert normalised_subject(config, "Re: AW: [#12] Rechnung   OFFEN") == "rechnung offen"


# -- the rest -------------------------------------------------------------------

def test_repeat_is_a_duplicate_of_the_first_copy(config):
    decision = run(config, parsed(), Candidates(duplicate_of=11, duplicate_ticket=5))
    assert (decision.action, decision.ticket, decision.duplicate_of) == ("duplicate", 5, 11)


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


# -- agents by mail (SPEC §5) -----------------------------------------------------

GIULIA = "giulia@example.com"


@pytest.fixture
def staffed(tmp_path):
    return configured(tmp_path, agents=[{"name": "Giulia Bianchi", "address": GIULIA}])


def agent_token(number: int = 7, agent: str = GIULIA, **kwargs) -> Candidates:
    return Candidates(token="valid", token_ticket=ref(number, participants=("anna@example.org",), **kwargs),
                      token_role="a", token_agent=agent)


def test_agent_answer_is_relayed_to_requester_and_participants_and_waits_on_them(staffed):
    decision = run(staffed, parsed(body="Buongiorno,\nfatto.\n", sender=GIULIA), agent_token())
    assert (decision.action, decision.visibility, decision.new_status) == ("comment", "public", "pending")
    assert [(e.kind, e.recipient, e.data["text"]) for e in decision.events] == [
        ("agent_reply", MARIO, "Buongiorno,\nfatto."), ("agent_reply", "anna@example.org", "Buongiorno,\nfatto.")]
    assert "agent:reply" in decision.rule_hits


def test_a_note_and_commands_relay_nothing(staffed):
    decision = run(staffed, parsed(body="#note\n#priority high\n#tag vip\nSolo per noi.\n", sender=GIULIA),
                   agent_token())
    assert (decision.visibility, decision.events, dict(decision.changes), decision.tags) == (
        "internal", (), {"priority": "high"}, ("vip",))
    assert decision.new_status is None


def test_a_bad_command_is_held_and_answered_to_the_agent_only(staffed):
    decision = run(staffed, parsed(body="#escalate\nPassa al secondo livello.\n", sender=GIULIA), agent_token())
    assert (decision.action, decision.reason) == ("rejected", "agent:command_error")
    [event] = decision.events
    assert (event.kind, event.recipient, event.data["error"]) == ("command_error", GIULIA, "unknown command #escalate")


def test_someone_else_at_an_agent_token_is_no_participant(staffed):
    decision = run(staffed, parsed(body="#solve\nChiudo io.\n"), agent_token())
    assert (decision.action, decision.reason) == ("rejected", "off_thread:not_participant")
    assert "agent:token_of_another" in decision.rule_hits and decision.changes == ()


def test_a_customers_hash_lines_are_words(staffed):
    decision = run(staffed, parsed(body="#close\nNon funziona ancora.\n"), Candidates(referenced=(ref(7),)))
    assert (decision.action, decision.new_status, decision.changes) == ("comment", None, ())


def test_solving_by_mail_tells_the_requester(staffed):
    decision = run(staffed, parsed(body="#solve\n", sender=GIULIA), agent_token())
    assert (decision.new_status, [e.kind for e in decision.events]) == ("solved", ["ticket_solved"])


def test_an_agent_token_of_a_ticket_that_is_gone_opens_nothing(staffed):
    gone = Candidates(token="valid", token_ticket=None, token_role="a", token_agent=GIULIA)
    decision = run(staffed, parsed(body="Risposta.\n", sender=GIULIA), gone)
    assert (decision.action, decision.reason) == ("rejected", "off_thread:bad_token")
    assert "token:unknown_ticket" in decision.rule_hits


# -- routing rules ------------------------------------------------------------------

RULES = [
    {"name": "invoices", "match_subject": r"\b(fattura|invoice)\b", "queue": "billing", "priority": "high",
     "tags": ["invoice"]},
    {"name": "vip", "match_from": r"@bigcustomer\.example$", "category": "technical", "priority": "high"},
    {"name": "android", "match_header": "User-Agent: Android", "tags": ["mobile"]},
]


@pytest.fixture
def routed(tmp_path):
    return configured(tmp_path, rules=RULES, queues=[
        {"name": "support", "addresses": ["support@example.com"], "categories": ["technical"]},
        {"name": "billing", "addresses": ["billing@example.com"]}])


def test_the_first_matching_rule_sets_queue_priority_and_tags(routed):
    decision = run(routed, parsed(subject="Fattura 118 sbagliata"))
    assert (decision.queue, decision.priority, decision.tags) == ("billing", "high", ("invoice",))
    assert "rule:invoices" in decision.rule_hits and "queue:billing" in decision.rule_hits


def test_rules_look_at_the_sender_and_at_headers(routed):
    vip = run(routed, parsed(sender="ceo@bigcustomer.example"), mail_from="ceo@bigcustomer.example")
    assert (vip.queue, dict(vip.changes), vip.priority) == ("support", {"category": "technical",
                                                                        "subcategory": None}, "high")
    phone = run(routed, parsed("User-Agent: Mail for Android 12"))
    assert (phone.tags, phone.priority) == (("mobile",), "medium")
    plain = run(routed, parsed())
    assert not any(hit.startswith("rule:") for hit in plain.rule_hits)


@pytest.mark.parametrize("rule, message", [
    ({"name": "x", "match_subject": "(unclosed", "queue": "support"}, "rules[0].match_subject: not a regular expression"),
    ({"name": "x", "match_subject": "a", "queue": "sales"}, "rules[0].queue: no queue named 'sales'"),
    ({"name": "x", "queue": "support"}, "rules[0]: give at least one of match_to"),
    ({"name": "x", "match_header": "no colon"}, "rules[0].match_header: expected"),
    ({"name": "x", "match_to": "a", "category": "nope"}, "rules[0].category: 'nope' is not among"),
])
def test_a_bad_rule_is_one_line_naming_it(tmp_path, rule, message):
    with pytest.raises(Exception, match=re.escape(message)):
        configured(tmp_path, rules=[rule])


def test_addresses_an_agent_puts_in_cc_take_part_but_not_our_own(staffed):
    decision = run(staffed, parsed("Cc: Anna <anna@partner.example>, support@example.com", body="Ecco.\n",
                                   sender=GIULIA), agent_token())
    assert decision.participants == ("anna@partner.example",)
