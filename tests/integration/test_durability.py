"""Nothing lost: quarantine for what cannot be processed, 451 while the
database is down, and an MTA that retries until it is back."""

from __future__ import annotations

import smtplib
import time

import pytest

from mailgate import app
from mailgate.config import build_config
from tests.conftest import Cli, config_document, write_config
from tests.integration.test_bad_input import HEAD, nested
from tests.support.inprocess import InProcessServer
from tests.support.mail import message
from tests.support.servers import PostfixServer, PostgresServer

CRASHER = HEAD + b"Subject: nested\r\nMessage-ID: <deep@example.org>\r\n" + nested(1200)


def test_mail_that_crashes_the_parser_is_acknowledged_quarantined_and_listed(mailgate_server, cli):
    with smtplib.SMTP("127.0.0.1", mailgate_server.smtp_port) as smtp:
        assert smtp.sendmail("tester@example.org", ["support@example.com"], CRASHER) == {}
    [entry] = cli.quarantine()
    assert (entry["action"], entry["reason"], entry["attempts"]) == ("quarantined", "parse_error:nesting_too_deep", 1)
    assert entry["mail_from"] == "tester@example.org" and entry["rcpt_tos"] == ["support@example.com"]

    shown = cli.run("quarantine", "show", str(entry["id"])).stdout.decode()
    assert "parse_error:nesting_too_deep" in shown
    raw = cli.run("quarantine", "show", str(entry["id"]), "--raw").stdout
    assert raw.endswith(CRASHER)

    [retried] = cli.json_lines("quarantine", "retry", str(entry["id"]), "--json")
    assert (retried["action"], retried["reason"]) == ("quarantined", "parse_error:nesting_too_deep")
    [entry] = cli.quarantine()
    assert entry["attempts"] == 2

    cli.run("quarantine", "drop", str(entry["id"]))
    assert cli.quarantine() == []
    assert [e["status"] for e in cli.quarantine("--all")] == ["dropped"]


def test_mail_held_by_a_bug_becomes_a_ticket_when_retried_after_the_fix(tmp_path, sqlite_url, monkeypatch):
    """A parser bug cannot be produced on demand, so one stands in for it here;
    the server, the SMTP client, the database and the retry are real."""
    config = build_config(config_document(tmp_path / "data", sqlite_url))
    real_parse = app.parse_mail

    def buggy_parse(raw, **kwargs):
        if b"trigger-the-bug" in raw:
            raise KeyError("bug")
        return real_parse(raw, **kwargs)

    monkeypatch.setattr(app, "parse_mail", buggy_parse)
    with InProcessServer(config) as server:
        with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
            smtp.send_message(message(subject="trigger-the-bug"))
    cli = Cli(write_config(tmp_path / "mailgate.toml", config_document(tmp_path / "data", sqlite_url)))
    [entry] = cli.quarantine()
    assert entry["reason"] == "parse_error:KeyError" and "KeyError: 'bug'" in entry["detail"]

    monkeypatch.setattr(app, "parse_mail", real_parse)          # the upgrade with the fix
    [outcome] = cli.json_lines("quarantine", "retry", str(entry["id"]), "--json")
    assert outcome["action"] == "new_ticket"
    assert [t["subject"] for t in cli.tickets()] == ["trigger-the-bug"]
    assert cli.quarantine() == []
    assert [(e["status"], e["ticket"]) for e in cli.quarantine("--all")] == [("released", outcome["ticket"])]


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own, so that it can be stopped; fsync on,
    so that a crash keeps what was committed, as a production server would."""
    try:
        server = PostgresServer(durable=True)
    except FileNotFoundError as exc:
        pytest.skip(f"needs the PostgreSQL server binaries ({exc}); `make test` installs them")
    server.start()
    yield server
    server.destroy()


def test_database_down_answers_451_and_the_mail_is_stored_once_it_is_back(tmp_path, own_postgres, start_mailgate):
    config_path = write_config(tmp_path / "pg.toml", config_document(tmp_path / "data", own_postgres.url()))
    server = start_mailgate(config_path=config_path)
    cli = Cli(config_path)
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
        smtp.send_message(message(subject="prima"))

    own_postgres.stop()
    second = message(subject="durante il guasto")
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.send_message(second)
    assert refused.value.smtp_code == 451 and refused.value.smtp_error.startswith(b"4.3.0")

    own_postgres.start()
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:      # the client retries
        assert smtp.send_message(second) == {}
    assert sorted(t["subject"] for t in cli.tickets()) == ["durante il guasto", "prima"]


def test_postfix_delivers_a_two_recipient_mail_once(postfix, cli):
    with smtplib.SMTP("127.0.0.1", postfix.smtp_port) as smtp:
        smtp.send_message(message(subject="a due code", to="support@example.com, billing@example.com"))
    wait_until(lambda: postfix.log().count("status=sent") >= 2 and postfix.queue_is_empty(), postfix.log)
    [ticket] = cli.tickets()
    assert (ticket["subject"], ticket["queue"]) == ("a due code", "support")
    assert len(cli.ticket(ticket["number"])["messages"]) == 1
    assert "status=deferred" not in postfix.log()


def test_postfix_refuses_a_recipient_mailgate_does_not_know(postfix, cli):
    with smtplib.SMTP("127.0.0.1", postfix.smtp_port) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(message(to="nobody@example.com"))
    code, _ = refused.value.recipients["nobody@example.com"]
    assert code == 550
    assert cli.tickets() == [] and cli.quarantine() == []


def test_postfix_retries_after_451_until_the_database_is_back(tmp_path, own_postgres, start_mailgate):
    if PostfixServer.unavailable():
        pytest.skip(PostfixServer.unavailable())
    config_path = write_config(tmp_path / "pg.toml", config_document(tmp_path / "data", own_postgres.url()))
    server = start_mailgate(config_path=config_path)
    postfix = PostfixServer("example.com", server.lmtp_port).start()
    try:
        own_postgres.stop()
        with smtplib.SMTP("127.0.0.1", postfix.smtp_port) as smtp:
            smtp.send_message(message(subject="consegnato più tardi"))
        wait_until(lambda: "451 4.3.0" in postfix.log(), postfix.log)
        own_postgres.start()
        # Postfix's own retry timer usually fires within a second or two, but
        # its queue manager sometimes leaves a just-deferred mail alone for
        # minutes ("skipped, still being delivered"); the admin's flush.
        wait_until(lambda: postfix.flush() or "status=sent" in postfix.log(), postfix.log)
        assert [t["subject"] for t in Cli(config_path).tickets()] == ["consegnato più tardi"]
    finally:
        postfix.stop()


def wait_until(condition, describe, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; log:\n{describe()}")
        time.sleep(0.2)
