"""Agents' mail commands (SPEC §5), parsed from literal texts."""

from __future__ import annotations

from mailgate.agentcmd import Names, parse_commands

NAMES = Names(agents={"giulia bianchi": "giulia@example.com", "giulia@example.com": "giulia@example.com",
                      "marco": "marco@example.com", "marco@example.com": "marco@example.com"},
              queues=frozenset({"support", "billing"}),
              categories={"support": frozenset({"billing", "billing/invoices", "technical"}),
                          "billing": frozenset({"refunds"})})


def test_commands_at_the_top_are_taken_out_and_the_rest_is_the_reply():
    found = parse_commands("#priority high\n#assign Marco\n#tag vip\n\nBuongiorno Mario,\nle abbiamo rimborsato.\n",
                           NAMES, "support")
    assert found.errors == []
    assert (found.priority, found.assignee, found.tags) == ("high", "marco@example.com", ["vip"])
    assert found.text == "Buongiorno Mario,\nle abbiamo rimborsato."


def test_a_hash_line_inside_the_text_is_not_a_command():
    found = parse_commands("Gentile cliente,\n#solve non è un comando qui\n", NAMES, "support")
    assert (found.status, found.lines) == (None, [])
    assert found.text.startswith("Gentile cliente,")


def test_status_note_category_queue_and_requester():
    found = parse_commands("#note\n#solve\n#category billing/invoices\n#requester Anna@Customer.example\nInterno.",
                           NAMES, "support")
    assert found.errors == [] and found.note
    assert found.changes == {"status": "solved", "category": "billing", "subcategory": "invoices"}
    assert found.requester == "anna@customer.example" and found.text == "Interno."
    moved = parse_commands("#queue billing\n#category refunds\n", NAMES, "support")
    assert moved.changes == {"queue": "billing", "category": "refunds"} and moved.text == ""


def test_every_bad_command_is_reported():
    found = parse_commands("#escalate\n#priority urgent\n#assign nobody\n#queue sales\n#category x/y\nTesto",
                           NAMES, "support")
    assert found.errors == [
        "unknown command #escalate", "#priority urgent: expected low, medium or high",
        "#assign nobody: no agent of that name or address", "#queue sales: no such queue",
        "#category x/y: queue support has no such category (it has: billing, billing/invoices, technical)"]
