"""A helpdesk as the conversation scenarios need it: `mailgate serve` with
queues of each closed-ticket policy, an agent and a sharing organisation, and
helpers that send over real SMTP and read back what was stored."""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailgate.mail.tokens import Signer
from storage import events as stored_events
from storage.db import make_engine, reading
from storage.models import Outbox
from tests.conftest import SECRET, Cli, config_document, write_config
from tests.support.servers import MailgateServer
from tests.support.sink import SmtpSink

QUEUES = [
    {"name": "support", "addresses": ["support@example.com"],                        # closed: reject
     "categories": ["billing/invoices", "technical"]},
    {"name": "billing", "addresses": ["billing@example.com"], "language": "it",
     "closed_policy": "reopen"},
    {"name": "sales", "addresses": ["sales@example.com"], "closed_policy": "new_ticket"},
]


@dataclass
class Helpdesk:
    server: MailgateServer
    cli: Cli
    database_url: str
    signer: Signer
    sink: SmtpSink

    def send(self, msg: EmailMessage | bytes, rcpt: str | None = None, mail_from: str | None = None,
             options: tuple[str, ...] = ()) -> None:
        """Deliver over SMTP; the envelope defaults to the message's From and To."""
        raw = msg if isinstance(msg, bytes) else msg.as_bytes()
        if mail_from is None:
            mail_from = "" if isinstance(msg, bytes) else msg["From"].addresses[0].addr_spec
        if rcpt is None:
            rcpt = msg["To"].addresses[0].addr_spec
        with smtplib.SMTP("127.0.0.1", self.server.smtp_port, timeout=60) as smtp:
            refused = smtp.sendmail(mail_from, [rcpt], raw, mail_options=list(options))
        assert refused == {}

    def events(self, **filters) -> list:
        """Stored events, oldest first, optionally only those whose fields match."""
        engine = make_engine(self.database_url)
        try:
            with reading(engine) as session:
                found = list(reversed(stored_events.listed(session, limit=10_000)))
                session.expunge_all()
        finally:
            engine.dispose()
        return [e for e in found if all(getattr(e, k) == v for k, v in filters.items())]

    def engine(self):
        return make_engine(self.database_url)

    def drain_outbox(self, timeout: float = 60.0) -> None:
        """Wait until the sender has handed every queued mail to the relay (and
        whatever those mails caused has been received and sent in turn)."""
        engine = self.engine()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                with reading(engine) as session:
                    waiting = session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
                        Outbox.status == "queued"))
                if not waiting:
                    return
                time.sleep(0.05)
        finally:
            engine.dispose()
        raise AssertionError(f"{waiting} mail(s) still waiting in the outbox after {timeout:.0f} s")

    def outbox(self, **filters) -> list[dict]:
        return [e for e in self.cli.json_lines("outbox", "list", "--json", "--limit", "100000")
                if all(e[k] == v for k, v in filters.items())]

    @staticmethod
    def customer_events(ticket: dict) -> list[dict]:
        """The events of a ticket that mail its customers (not its agents)."""
        return [e for e in ticket["events"] if e["audience"] == "customer"]

    def requester_token(self, ticket: dict) -> str:
        """The token our acknowledgement puts in Reply-To: the ticket and its
        requester's contact, as the link of the ticket_received event names it."""
        link = next(e["data"]["link"] for e in ticket["events"] if e["kind"] == "ticket_received")
        number, contact = self.signer.read_link_key(link.partition("?k=")[2], _today())
        return self.signer.reply_token(number, "c", contact)


def _today():
    return datetime.now(timezone.utc).date()


@pytest.fixture
def helpdesk_document(tmp_path, database_url, smtp_sink) -> dict:
    return config_document(
        tmp_path / "data", database_url, queues=QUEUES,
        agents=[{"name": "Giulia Bianchi", "address": "giulia@example.com"},              # every queue
                {"name": "Marco Verdi", "address": "marco@example.com", "queues": ["billing"]}],
        organisations=[{"name": "Acme", "domains": ["acme.example"], "share_tickets": True},
                       {"name": "Globex", "domains": ["globex.example"]}],
        conversation={"trusted_authserv_ids": "mx.example.com"},
        outbound={"relay": f"127.0.0.1:{smtp_sink.port}", "retry_intervals": "0.5s"})


@pytest.fixture
def helpdesk(tmp_path, helpdesk_document, start_mailgate, database_url, smtp_sink) -> Helpdesk:
    path: Path = write_config(tmp_path / "helpdesk.toml", helpdesk_document)
    server = start_mailgate(config_path=path)
    return Helpdesk(server, Cli(path), database_url, Signer(SECRET), smtp_sink)
