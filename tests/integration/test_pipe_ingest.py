"""`mailgate ingest`: the MTA pipe (stdin), files, mbox and Maildir imports,
exit codes an MTA understands, and every real mail of the shared corpora."""

from __future__ import annotations

import json
import mailbox

import pytest

from tests.conftest import CORPORA, Cli, config_document, write_config
from tests.support.mail import message, reply_to
from tests.support.servers import free_port

ACTIONS = {"new_ticket", "comment", "duplicate", "quarantined", "rejected", "bounce", "auto_reply"}


def test_a_file_becomes_a_ticket_and_the_same_file_again_a_duplicate(cli, tmp_path):
    mail = tmp_path / "mail.eml"
    mail.write_bytes(message(subject="Da file").as_bytes())
    [first] = cli.json_lines("ingest", "--json", str(mail))
    assert first["action"] == "new_ticket" and first["source"] == str(mail)
    assert first["message_id"].startswith("<") and first["reason"] is None
    [second] = cli.json_lines("ingest", "--json", str(mail))
    assert (second["action"], second["ticket"], second["reason"]) == ("duplicate", first["ticket"], "duplicate")
    assert len(cli.tickets()) == 1


def test_stdin_from_an_mta_pipe_goes_to_the_queue_of_the_original_recipient(cli):
    raw = message(subject="Fattura", to="undisclosed-recipients:;").as_bytes()
    [outcome] = cli.json_lines("ingest", "--json", input=raw,
                               env={"ORIGINAL_RECIPIENT": "billing+x@example.com"})
    assert outcome["source"] == "-"
    assert cli.ticket(outcome["ticket"])["queue"] == "billing"


def test_without_envelope_the_delivered_to_header_chooses_the_queue(cli):
    raw = message(subject="Inoltrata", to="mario@gmail.example",
                  headers={"Delivered-To": "billing@example.com"}).as_bytes()
    [outcome] = cli.json_lines("ingest", "--json", input=raw)
    assert cli.ticket(outcome["ticket"])["queue"] == "billing"


def test_mbox_import_threads_replies_and_reports_each_message(cli, tmp_path):
    first = message(subject="Primo")
    box = mailbox.mbox(tmp_path / "import.mbox")
    for msg in (first, message(subject="Secondo"), reply_to(first)):
        box.add(msg)
    box.close()
    outcomes = cli.json_lines("ingest", "--json", "--mbox", str(tmp_path / "import.mbox"))
    assert [o["action"] for o in outcomes] == ["new_ticket", "new_ticket", "comment"]
    assert outcomes[2]["ticket"] == outcomes[0]["ticket"]
    assert [o["source"] for o in outcomes] == [f"{tmp_path / 'import.mbox'}#{n}" for n in (1, 2, 3)]


def test_file_name_that_is_not_utf8_is_ingested(cli, tmp_path):
    mail = tmp_path / "caf\udce9.eml"            # b"caf\xe9.eml" on disk
    mail.write_bytes(message(subject="Latin-1 name").as_bytes())
    [outcome] = cli.json_lines("ingest", "--json", str(mail))
    assert outcome["action"] == "new_ticket"


def test_maildir_import(cli, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir")
    for n in range(7):
        box.add(message(subject=f"Maildir {n}"))
    proc = cli.run("ingest", "--maildir", str(tmp_path / "Maildir"))
    assert proc.stdout.decode().strip() == "7 new_ticket"
    assert len(cli.tickets()) == 7


def test_storage_down_exits_75_so_the_mta_retries(tmp_path):
    url = f"postgresql+psycopg://mailgate@127.0.0.1:{free_port()}/mailgate"   # nothing listens
    cli = Cli(write_config(tmp_path / "down.toml", config_document(tmp_path / "data", url)))
    proc = cli.run("ingest", input=message().as_bytes(), check=False)
    assert proc.returncode == 75
    stderr = proc.stderr.decode()
    assert "database" in stderr and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def test_mail_over_the_size_limit_is_refused_with_exit_65(cli, tmp_path):
    mail = tmp_path / "big.eml"
    mail.write_bytes(message(body="x" * 100 + "\n" + "riga\n" * 10_000).as_bytes())
    proc = cli.run("ingest", "--json", str(mail), env={"MAILGATE_LIMITS_MAX_MESSAGE_SIZE": "5000"},
                   check=False)
    assert proc.returncode == 65
    assert '"reason": "too_big"' in proc.stdout.decode()
    assert cli.tickets() == []


def corpus_files() -> list[str]:
    if not CORPORA.is_dir():
        return []
    found = [p for p in CORPORA.rglob("*") if p.is_file() and (
        p.suffix in (".eml", ".box", ".txt") or p.parent.name == "spamscope-mail-parser" and not p.suffix)]
    return sorted(str(p) for p in found)


@pytest.mark.skipif(not CORPORA.is_dir(), reason=f"the shared mail corpora are not at {CORPORA}")
def test_every_corpus_mail_gets_an_action_without_a_traceback(cli):
    files = corpus_files()
    assert len(files) > 500
    proc = cli.run("ingest", "--json", *files, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    outcomes = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [o["source"] for o in outcomes] == files
    assert all(o["action"] in ACTIONS for o in outcomes)
    # Importing the same mail again stores nothing new, whatever became of it.
    again = cli.json_lines("ingest", "--json", *files)
    assert {o["action"] for o in again} == {"duplicate"}

    mbox = CORPORA / "cpython-email-testdata" / "mailbox_01.mbox"
    boxed = cli.json_lines("ingest", "--json", "--mbox", str(mbox))
    assert boxed and all(o["action"] in ACTIONS for o in boxed)
