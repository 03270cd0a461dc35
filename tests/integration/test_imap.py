"""IMAP ingest (SPEC §3.1) against a real Dovecot: mail appended by another
client becomes tickets, each once, and is marked, moved or deleted only
after it is committed; restarts of Dovecot and of mailgate lose nothing."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient

from mailgate.mail.tokens import Signer
from storage.db import make_engine
from storage.models import Message
from tests.conftest import SECRET, Cli, config_document, write_config
from tests.support.dovecot import DovecotServer
from tests.support.mail import message
from tests.support.servers import PostgresServer, free_port

USER, PASSWORD = "support", "s3cret-imap"


@pytest.fixture
def dovecot():
    why = DovecotServer.unavailable()
    if why:
        pytest.skip(why)
    server = DovecotServer({USER: PASSWORD}).start()
    yield server
    server.destroy()


def mailbox(dovecot, **overrides) -> dict:
    return {"name": "inbox", "host": "localhost", "port": dovecot.port, "tls": "none", "user": USER,
            "password": PASSWORD, **overrides}


def helpdesk_config(tmp_path, database_url: str, boxes: list[dict]):
    document = config_document(tmp_path / "data", database_url, imap=boxes,
                               ingest={"imap_reconnect_intervals": "0.2s 0.5s 1s"})
    return write_config(tmp_path / "mailgate.toml", document)


def client(dovecot) -> IMAPClient:
    """A second connection: the customer's mail arriving, or an admin looking."""
    connection = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=30)
    connection.login(USER, PASSWORD)
    return connection


def append(dovecot, count: int, start: int = 0, folder: str = "INBOX") -> list[str]:
    ids = []
    with client(dovecot) as imap:
        for i in range(start, start + count):
            mail = message(sender=f"customer{i}@clients.example", subject=f"Request {i}",
                           body=f"Hello, this is request number {i}.\n")
            imap.append(folder, mail.as_bytes())
            ids.append(mail["Message-ID"])
    return ids


def folder_state(dovecot, folder: str = "INBOX") -> dict[str, int]:
    with client(dovecot) as imap:
        if not imap.folder_exists(folder):
            return {"messages": 0, "unseen": 0}
        status = imap.folder_status(folder, ["MESSAGES", "UNSEEN"])
    return {"messages": status[b"MESSAGES"], "unseen": status[b"UNSEEN"]}


def tickets(cli: Cli) -> list[dict]:
    return cli.json_lines("tickets", "list", "--json", "--limit", "10000")


def wait_until(condition, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def first_messages(database_url: str) -> list[str]:
    """The Message-ID of every ticket's first mail, one per ticket."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        first = sa.select(sa.func.min(Message.id)).where(Message.ticket_id.is_not(None)).group_by(Message.ticket_id)
        found = list(connection.execute(sa.select(Message.message_id).where(Message.id.in_(first))).scalars())
    engine.dispose()
    return found


def test_mail_appended_while_the_worker_idles_becomes_one_ticket_each(tmp_path, sqlite_url, dovecot,
                                                                      start_mailgate):
    path = helpdesk_config(tmp_path, sqlite_url, [mailbox(dovecot)])
    cli = Cli(path)
    server = start_mailgate(config_path=path)
    wait_until(lambda: "logged in" in server.log(), 30, "the worker's login")
    sent = append(dovecot, 200)
    wait_until(lambda: len(tickets(cli)) >= 200, what="200 tickets")
    wait_until(lambda: folder_state(dovecot)["unseen"] == 0, 30, "every message marked \\Seen")
    assert len(tickets(cli)) == 200
    assert folder_state(dovecot) == {"messages": 200, "unseen": 0}     # "seen": marked, left in place
    assert sorted(f"<{m.strip('<>')}>" for m in first_messages(sqlite_url)) == sorted(sent)
    assert server.stop() == 0


def test_moved_only_after_commit_and_kept_while_the_database_is_down(tmp_path, dovecot, start_mailgate):
    database = PostgresServer()
    database.start()
    try:
        url = database.url(database.create_database())
        path = helpdesk_config(tmp_path, url, [mailbox(dovecot, after="move:Processed")])
        cli = Cli(path)
        server = start_mailgate(config_path=path)
        append(dovecot, 3)
        wait_until(lambda: folder_state(dovecot, "Processed")["messages"] == 3, 60, "three moved")
        assert folder_state(dovecot) == {"messages": 0, "unseen": 0} and len(tickets(cli)) == 3

        database.stop()
        append(dovecot, 4, start=3)
        wait_until(lambda: "the mail stays in the mailbox" in server.log(), 60, "the worker to notice")
        time.sleep(1.5)                                 # a few more attempts: still nothing may move
        assert folder_state(dovecot) == {"messages": 4, "unseen": 4}
        assert folder_state(dovecot, "Processed")["messages"] == 3

        database.start()
        wait_until(lambda: folder_state(dovecot, "Processed")["messages"] == 7, 60, "the rest moved")
        assert folder_state(dovecot)["messages"] == 0 and len(tickets(cli)) == 7
        assert server.stop() == 0
    finally:
        database.destroy()


def test_restarts_of_dovecot_and_of_mailgate_lose_nothing_and_repeat_nothing(tmp_path, sqlite_url, dovecot,
                                                                             start_mailgate):
    path = helpdesk_config(tmp_path, sqlite_url, [mailbox(dovecot, mode="poll", poll_seconds=1)])
    cli = Cli(path)
    sent = append(dovecot, 150)
    server = start_mailgate(config_path=path)
    wait_until(lambda: 0 < len(tickets(cli)), 60, "the first tickets")
    dovecot.restart()                                   # in the middle of the batch
    wait_until(lambda: len(tickets(cli)) >= 150, what="the first 150 tickets")

    sent += append(dovecot, 150, start=150)
    wait_until(lambda: len(tickets(cli)) > 150, 60, "the next batch to start")
    server.kill()                                       # in the middle of another
    server = start_mailgate(config_path=path)
    wait_until(lambda: len(tickets(cli)) >= 300 and folder_state(dovecot)["unseen"] == 0,
               what="every message a ticket and marked")
    assert sorted(f"<{m.strip('<>')}>" for m in first_messages(sqlite_url)) == sorted(sent)   # each once
    assert folder_state(dovecot) == {"messages": 300, "unseen": 0}
    assert server.stop() == 0


def test_imaps_with_the_servers_own_certificate(tmp_path, sqlite_url, dovecot, start_mailgate):
    path = helpdesk_config(tmp_path, sqlite_url, [mailbox(dovecot, port=dovecot.ssl_port, tls="ssl",
                                                          ca_file=str(dovecot.cert), after="delete")])
    cli = Cli(path)
    start_mailgate(config_path=path)
    append(dovecot, 2)
    wait_until(lambda: len(tickets(cli)) == 2 and folder_state(dovecot)["messages"] == 0, 60,
               "two tickets and the messages deleted")


def test_imap_check_reports_a_good_and_a_bad_password(tmp_path, sqlite_url, dovecot):
    path = helpdesk_config(tmp_path, sqlite_url, [
        mailbox(dovecot), mailbox(dovecot, name="wrong", password="not-the-password", tls="starttls",
                                  ca_file=str(dovecot.cert))])
    append(dovecot, 3)
    result = Cli(path).run("imap", "check", check=False)
    out = result.stdout.decode()
    assert result.returncode == 1
    good, bad = out.splitlines()
    assert good.startswith("inbox: support@localhost") and "OK, 3 messages, 3 unseen" in good
    assert "IDLE yes" in good and "MOVE yes" in good and "UIDPLUS yes" in good
    assert bad.startswith("wrong: ") and "FAILED: login as support refused" in bad
    assert "not-the-password" not in out + result.stderr.decode()


def test_our_own_mail_in_the_fetched_folder_is_recorded_not_processed(tmp_path, sqlite_url, dovecot,
                                                                      start_mailgate):
    # A Sent folder configured by mistake: it holds a notice we sent, with our signed Message-ID.
    ours = message(sender="Example Support <support@example.com>", to="customer@clients.example",
                   subject="[#1] Your request", message_id=Signer(SECRET).message_id(1, 1, "example.com"))
    with client(dovecot) as imap:
        imap.create_folder("Sent")
        imap.append("Sent", ours.as_bytes())
    path = helpdesk_config(tmp_path, sqlite_url, [mailbox(dovecot, folder="Sent")])
    cli = Cli(path)
    start_mailgate(config_path=path)
    wait_until(lambda: folder_state(dovecot, "Sent")["unseen"] == 0, 60, "the mail to be taken")
    assert tickets(cli) == []
    [held] = cli.quarantine()
    assert (held["action"], held["reason"]) == ("ignored", "own_mail")


class Introspection(BaseHTTPRequestHandler):
    """The OAuth2 provider's token check (RFC 7662) that Dovecot calls."""

    tokens: dict[str, str] = {}          # token -> user
    asked: list[str] = []

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        token = form.get("token", [""])[0]
        self.asked.append(token)
        user = self.tokens.get(token)
        body = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def oauth2_dovecot():
    why = DovecotServer.unavailable()
    if why:
        pytest.skip(why)
    provider = ThreadingHTTPServer(("127.0.0.1", free_port()), Introspection)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    Introspection.tokens, Introspection.asked = {"ya29.fresh-token": USER}, []
    server = DovecotServer({USER: PASSWORD}, f"http://127.0.0.1:{provider.server_port}/introspect").start()
    yield server
    server.destroy()
    provider.shutdown()
    provider.server_close()


def token_command(tmp_path, token: str) -> str:
    script = tmp_path / f"token-{len(list(tmp_path.glob('token-*')))}.sh"
    script.write_text(f"#!/bin/sh\necho {token}\n")
    script.chmod(0o755)
    return str(script)


def test_xoauth2_login_with_the_token_commands_token(tmp_path, sqlite_url, oauth2_dovecot, start_mailgate):
    path = helpdesk_config(tmp_path, sqlite_url, [
        mailbox(oauth2_dovecot, password="", oauth2_token_command=token_command(tmp_path, "ya29.fresh-token"))])
    cli = Cli(path)
    check = cli.run("imap", "check")
    assert "OK, 0 messages" in check.stdout.decode()
    server = start_mailgate(config_path=path)
    append(oauth2_dovecot, 1)
    wait_until(lambda: len(tickets(cli)) == 1, 60, "a ticket from the XOAUTH2 mailbox")
    assert "ya29.fresh-token" in Introspection.asked                 # Dovecot checked our token
    assert "method=XOAUTH2" in oauth2_dovecot.log()
    assert "ya29.fresh-token" not in server.log()


def test_a_token_the_provider_refuses_is_a_failed_check_and_never_printed(tmp_path, sqlite_url, oauth2_dovecot):
    path = helpdesk_config(tmp_path, sqlite_url, [
        mailbox(oauth2_dovecot, password="", oauth2_token_command=token_command(tmp_path, "ya29.revoked"))])
    result = Cli(path).run("imap", "check", check=False)
    out = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 1 and "FAILED: login as support refused" in out
    assert "ya29.revoked" in Introspection.asked and "ya29.revoked" not in out
