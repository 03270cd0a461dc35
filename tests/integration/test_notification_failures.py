"""A notification that cannot be rendered fails with its reason and holds
up nothing: neither the incoming mail nor the other notifications."""

from __future__ import annotations

import pytest

from tests.conftest import SECRET
from tests.support.mail import message


@pytest.fixture
def helpdesk_document(helpdesk_document, tmp_path):
    """The helpdesk, with an admin's Italian acknowledgement that breaks at
    render time (a filter given a number where it wants a date)."""
    override = tmp_path / "templates" / "it"
    override.mkdir(parents=True)
    (override / "ticket_received.subject.txt").write_text("Ricevuta il {{ ticket.number|date }}\n")
    helpdesk_document["notify"] = {"templates_dir": str(override.parent)}
    assert helpdesk_document["site"]["secret_key"] == SECRET
    return helpdesk_document


def test_a_template_failing_at_render_time_fails_its_mail_only(helpdesk):
    helpdesk.send(message(sender="rossi@customer.example", to="billing@example.com",     # Italian queue
                          body="Buongiorno, la fattura è sbagliata.\n"))
    helpdesk.send(message(sender="smith@customer.example", subject="Invoice",
                          body="Hello, the invoice is wrong. Could you check it?\n"))
    helpdesk.drain_outbox()
    assert len(helpdesk.cli.tickets()) == 2                       # the mail itself was never held up
    [broken] = helpdesk.outbox(to="rossi@customer.example")
    assert broken["status"] == "failed"
    assert broken["last_error"].startswith("template_error: ") and \
        "it/ticket_received.subject.txt:1: " in broken["last_error"]
    assert [m["To"] for m in helpdesk.sink.messages("smith@customer.example")] == ["smith@customer.example"]
    assert len(helpdesk.sink.messages("giulia@example.com")) == 2    # both agents' notices went
