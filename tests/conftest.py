"""Fixtures: configs, SQLite and a throwaway PostgreSQL, `mailgate serve` as a
real process, Postfix in front of it, and helpers that read what mailgate stored."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mailgate.config import Config, build_config
from tests.support.servers import MAILGATE, REPO, MailgateServer, PostfixServer, PostgresServer
from tests.support.sink import SmtpSink

SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


def config_document(data_dir: Path, database_url: str = "", **sections) -> dict:
    """A config with two queues: support (support@, helpdesk@) and billing (billing@, Italian)."""
    document = {
        "site": {"name": "Example Support", "domain": "example.com", "secret_key": SECRET,
                 "portal_url": "https://support.example.com"},
        "data": {"dir": str(data_dir)},
        "database": {"url": database_url},
        # Nothing listens there: tests that look at what we send start a sink.
        "outbound": {"relay": "127.0.0.1:1", "poll_interval": "0.1s"},
        "queues": [
            {"name": "support", "addresses": ["support@example.com", "helpdesk@example.com"]},
            {"name": "billing", "addresses": ["billing@example.com"], "language": "it",
             "priority": "high"},
        ],
    }
    for name, values in sections.items():
        if isinstance(values, list):
            document[name] = values                    # [[queues]], [[agents]], [[organisations]]
        else:
            document.setdefault(name, {}).update(values)
    return document


def write_config(path: Path, document: dict) -> Path:
    def literal(value):
        if isinstance(value, dict):                     # an inline table
            return "{ " + ", ".join(f"{key} = {literal(item)}" for key, item in value.items()) + " }"
        return json.dumps(value) if not isinstance(value, bool) else str(value).lower()

    lines = []
    for section, values in document.items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines += [f"{key} = {literal(value)}" for key, value in values.items()]
    for section, tables in document.items():
        for table in tables if isinstance(tables, list) else ():     # [[queues]], [[agents]], ...
            lines.append(f"[[{section}]]")
            lines += [f"{key} = {literal(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def smtp_sink():
    """The relay mailgate sends through, keeping every mail."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = PostgresServer()
    except FileNotFoundError as exc:
        pytest.skip(f"needs the PostgreSQL server binaries ({exc}); `make test` installs them")
    server.start()
    yield server
    server.destroy()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'mailgate.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'mailgate.db'}"


@pytest.fixture
def config(tmp_path, database_url) -> Config:
    return build_config(config_document(tmp_path / "data", database_url))


@pytest.fixture
def config_file(tmp_path, database_url) -> Path:
    return write_config(tmp_path / "mailgate.toml", config_document(tmp_path / "data", database_url))


@pytest.fixture
def start_mailgate(request):
    """Start `mailgate serve` (env overrides allowed); stopped and checked at
    teardown. Ask for the database's fixture (`cli`, `config_file`) before
    this one, so that the database outlives the server."""
    started: list[MailgateServer] = []

    def start(env: dict | None = None, config_path: Path | None = None) -> MailgateServer:
        config_path = config_path or request.getfixturevalue("config_file")
        server = MailgateServer(config_path, env or {}).start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.killed:
            continue
        code = server.stop()
        assert code == 0, f"mailgate serve exited with {code}:\n{server.log()}"
        assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def mailgate_server(config_file, start_mailgate) -> MailgateServer:
    # config_file first: its database outlives the server at teardown.
    return start_mailgate()


@pytest.fixture
def postfix(mailgate_server):
    if PostfixServer.unavailable():
        pytest.skip(PostfixServer.unavailable())
    server = PostfixServer("example.com", mailgate_server.lmtp_port).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def swaks() -> str:
    path = shutil.which("swaks")
    if not path:
        pytest.skip("needs swaks; `make test` installs it")
    return path


class Cli:
    """Runs the real `mailgate` command against one config file."""

    def __init__(self, config_path: Path):
        self.config_path = config_path

    def run(self, *args: str, input: bytes | None = None, env: dict | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(MAILGATE + ["-c", str(self.config_path), *args], input=input,
                              capture_output=True, env={**os.environ, **(env or {})}, cwd=REPO,
                              timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"mailgate {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def json_lines(self, *args: str, **kwargs) -> list[dict]:
        out = self.run(*args, **kwargs).stdout.decode()
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def tickets(self) -> list[dict]:
        return self.json_lines("tickets", "list", "--json")

    def ticket(self, number: int) -> dict:
        return self.json_lines("tickets", "show", str(number), "--json")[0]

    def quarantine(self, *flags: str) -> list[dict]:
        return self.json_lines("quarantine", "list", "--json", *flags)


@pytest.fixture
def cli(config_file) -> Cli:
    return Cli(config_file)
