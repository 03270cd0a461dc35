"""Threading and participants on real mail: Discourse's receiver fixtures
(a reply chain by In-Reply-To/References, a first mail with Cc), ingested
through the pipeline into SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from mailgate.app import Ingestor
from mailgate.domain import Inbound
from storage import tickets
from storage.db import make_engine, reading, upgrade
from tests.conftest import CORPORA

FOLDER = CORPORA / "discourse-receiver"


@pytest.fixture
def cases():
    path = FOLDER / "expectations.json"
    if not path.exists():
        pytest.skip(f"needs the mail corpora beside the checkout ({FOLDER})")
    return json.loads(path.read_text())["cases"]


@pytest.fixture
def ingestor(config):
    engine = make_engine(config.database_url)
    upgrade(engine)
    yield Ingestor(config, engine)
    engine.dispose()


def ingest(ingestor, name: str):
    inbound = Inbound(raw=(FOLDER / name).read_bytes(), source=name, received_at=datetime.now(timezone.utc),
                      rcpt_tos=("support@example.com",))
    return ingestor.accept_message(inbound)


def test_replies_join_the_ticket_of_the_mail_they_answer(ingestor, cases):
    threads = [c for c in cases if c.get("belongs_to_thread_of")]
    assert threads, "the corpus has no threading cases"
    for case in threads:
        root = ingest(ingestor, case["belongs_to_thread_of"])
        reply = ingest(ingestor, case["file"])
        assert reply.ticket == root.ticket and reply.action in ("comment", "duplicate"), case["file"]


def test_cc_of_a_first_mail_become_participants(ingestor, cases):
    for case in (c for c in cases if c.get("participants")):
        outcome = ingest(ingestor, case["file"])
        with reading(ingestor.engine) as session:
            ref = tickets.ticket_ref(session, outcome.ticket)
        assert {ref.requester, *ref.participants} == set(case["participants"]), case["file"]
