"""Scaling out (SPEC §7.4): several `mailgate serve` processes on one
PostgreSQL share the scheduled sweeps and the outbox, and every notice goes
out exactly once; two processes starting together migrate the schema once."""

from __future__ import annotations

import mailbox
import re
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from storage.db import HEAD_REVISION, make_engine, schema_revision
from storage.models import Event, Outbox, Ticket
from tests.conftest import Cli, config_document, write_config
from tests.support.mail import message
from tests.support.servers import MAILGATE, REPO

LEAD = "lead@example.com"
TICKETS = 500


@pytest.fixture
def postgres_url(postgres_server):
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def test_two_servers_on_one_postgresql_send_each_of_500_due_notices_once(tmp_path, postgres_url, smtp_sink,
                                                                         start_mailgate):
    path = write_config(tmp_path / "mailgate.toml", config_document(
        tmp_path / "data", postgres_url,
        queues=[{"name": "support", "addresses": ["support@example.com"], "priority": "high",
                 "escalation": [LEAD]}],
        outbound={"relay": f"127.0.0.1:{smtp_sink.port}", "retry_intervals": "0.5s"},
        # Small batches and frequent sweeps: the two processes meet on the same rows.
        scheduler={"sweep_seconds": 1, "batch_size": 20}))
    cli = Cli(path)
    box = mailbox.mbox(tmp_path / "requests.mbox")
    for i in range(TICKETS):
        box.add(message(sender=f"customer{i}@clients.example", subject=f"Order {i} has not arrived",
                        body=f"Hello, order {i} has not arrived yet.\n"))
    box.close()
    cli.run("ingest", "--mbox", str(tmp_path / "requests.mbox"))
    engine = make_engine(postgres_url)
    with engine.begin() as connection:      # two hours pass: every first answer is overdue
        moved = connection.execute(sa.update(Ticket).values(
            sla_since=Ticket.sla_since - sa.literal(timedelta(hours=2), sa.Interval()),
            sla_next_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
        assert moved.rowcount == TICKETS

    servers = [start_mailgate(config_path=path), start_mailgate(config_path=path)]
    smtp_sink.wait_for(TICKETS, to=LEAD, timeout=180)
    time.sleep(3)                           # three more sweeps by each: a second notice would show now
    numbers = Counter(int(re.match(r"\[#(\d+)\]", m["Subject"]).group(1)) for m in smtp_sink.messages(LEAD))
    assert len(numbers) == TICKETS and set(numbers.values()) == {1}
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(Event)
                                  .where(Event.kind == "sla_breach")).scalar() == TICKETS
        assert connection.execute(sa.select(sa.func.count()).select_from(Outbox)
                                  .where(Outbox.event == "sla_breach", Outbox.status == "sent")).scalar() == TICKETS
    acknowledgements = [m for m in smtp_sink.messages() if m["Auto-Submitted"] == "auto-replied"]
    assert len(acknowledgements) == TICKETS                   # the outbox too: each mail once
    for server in servers:
        assert server.stop() == 0
    engine.dispose()


@pytest.mark.parametrize("attempt", range(3))
def test_two_processes_starting_together_migrate_the_schema_once(tmp_path, postgres_url, attempt):
    path = write_config(tmp_path / "mailgate.toml", config_document(tmp_path / "data", postgres_url))
    starting = [subprocess.Popen(MAILGATE + ["-c", str(path), "db", "upgrade"], cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [(proc.wait(120), proc.communicate()[0].decode()) for proc in starting]
    assert [code for code, _ in outputs] == [0, 0], outputs
    engine = make_engine(postgres_url)
    assert schema_revision(engine) == HEAD_REVISION
    engine.dispose()
