"""`mailgate serve` under stress: an unexpected error never becomes a
permanent 5xx or a hung session, and SIGTERM loses no acknowledged mail."""

from __future__ import annotations

import signal
import smtplib
import threading
import time

from storage.rawstore import FileStore
from mailgate.config import build_config
from tests.conftest import Cli, config_document, write_config
from tests.support.inprocess import InProcessServer
from tests.support.mail import message


def test_unexpected_error_while_storing_is_a_temporary_451_and_the_server_recovers(
        tmp_path, sqlite_url, monkeypatch):
    """A bug cannot be produced on demand, so one stands in for it here."""
    config = build_config(config_document(tmp_path / "data", sqlite_url))
    real_put = FileStore.put
    failing = {"on": True}

    def put(self, data, sha256=None):
        if failing["on"]:
            raise RuntimeError("unexpected")
        return real_put(self, data, sha256)

    monkeypatch.setattr(FileStore, "put", put)
    with InProcessServer(config) as server:
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail("mario@example.org")
            smtp.rcpt("support@example.com")
            code, text = smtp.data(message(subject="first try").as_bytes())
            assert (code, text[:5]) == (451, b"4.3.0")          # temporary: the client retries
            failing["on"] = False
            smtp.mail("mario@example.org")
            smtp.rcpt("support@example.com")
            assert smtp.data(message(subject="first try").as_bytes())[0] == 250
    cli = Cli(write_config(tmp_path / "mailgate.toml", config_document(tmp_path / "data", sqlite_url)))
    assert [t["subject"] for t in cli.tickets()] == ["first try"]


def test_sigterm_while_mail_flows_loses_nothing_that_was_acknowledged(cli, start_mailgate):
    server = start_mailgate()
    acknowledged: list[str] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        for n in range(200):
            subject = f"worker {worker} mail {n}"
            try:
                with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
                    # One customer per mail: a single sender would hit the flood limit.
                    smtp.send_message(message(subject=subject, sender=f"c{worker}.{n}@example.org"))
            except (OSError, smtplib.SMTPException):
                return                              # the server is going away
            with lock:
                acknowledged.append(subject)

    clients = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40:
        assert time.monotonic() < deadline, f"clients stalled:\n{server.log()}"
        time.sleep(0.01)
    assert server.stop(signal.SIGTERM) == 0
    for thread in clients:
        thread.join(60)
    stored = {t["subject"] for t in cli.tickets()} if acknowledged else set()
    assert set(acknowledged) <= stored
    assert "stopped" in server.log()
