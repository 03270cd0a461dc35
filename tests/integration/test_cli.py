"""The command line as an admin meets it: init, config check, errors, inspect."""

from __future__ import annotations

import os
import stat
import subprocess

from tests.conftest import Cli, config_document, write_config
from tests.support.mail import message
from tests.support.servers import MAILGATE, REPO


def mailgate(*args: str, cwd=REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(MAILGATE + list(args), capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "MAILGATE_CONFIG": "", **(env or {})}, timeout=120)


def test_init_writes_a_private_config_that_passes_check_and_is_never_overwritten(tmp_path):
    made = mailgate("init", str(tmp_path / "site"), "--domain", "acme.test")
    assert made.returncode == 0, made.stderr
    config = tmp_path / "site" / "mailgate.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600          # it holds the token secret
    assert (tmp_path / "site" / "data").is_dir()
    assert 'addresses = ["support@acme.test"]' in config.read_text()

    checked = mailgate("-c", str(config), "config", "check")
    assert checked.returncode == 0 and "config OK" in checked.stdout
    assert "queue support: support@acme.test" in checked.stdout

    again = mailgate("init", str(tmp_path / "site"), "--domain", "other.test")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "acme.test" in config.read_text()


def test_config_is_found_through_the_environment_or_the_working_directory(tmp_path):
    mailgate("init", str(tmp_path), "--domain", "cwd.test")
    by_cwd = mailgate("config", "check", cwd=tmp_path)
    assert by_cwd.returncode == 0 and "support@cwd.test" in by_cwd.stdout
    by_env = mailgate("config", "check", env={"MAILGATE_CONFIG": str(tmp_path / "mailgate.toml")})
    assert by_env.returncode == 0 and "support@cwd.test" in by_env.stdout


def test_bad_config_is_one_line_with_exit_2_and_no_traceback(tmp_path):
    mailgate("init", str(tmp_path), "--domain", "acme.test")
    config = str(tmp_path / "mailgate.toml")
    bad_env = mailgate("-c", config, "config", "check", env={"MAILGATE_SMTP_LISTEN": "nowhere"})
    assert bad_env.returncode == 2
    assert bad_env.stderr.strip() == "Error: config: MAILGATE_SMTP_LISTEN: expected HOST:PORT, got 'nowhere'"
    text = (tmp_path / "mailgate.toml").read_text().replace("max_message_size = 52428800", "max_message_size = -1")
    (tmp_path / "mailgate.toml").write_text(text)
    bad_file = mailgate("-c", config, "serve")
    assert bad_file.returncode == 2 and len(bad_file.stderr.strip().splitlines()) == 1
    assert "limits.max_message_size: must be a positive number" in bad_file.stderr


def test_user_mistakes_are_one_line_errors(tmp_path):
    mailgate("init", str(tmp_path), "--domain", "acme.test")
    config = str(tmp_path / "mailgate.toml")
    no_db = mailgate("-c", config, "tickets", "list")
    assert no_db.returncode == 1 and "no database" in no_db.stderr and "Traceback" not in no_db.stderr
    assert mailgate("-c", config, "db", "upgrade").stdout.startswith("database schema at revision")
    missing = mailgate("-c", config, "tickets", "show", "999")
    assert (missing.returncode, missing.stderr.strip()) == (1, "Error: no ticket #999")
    assert mailgate("-c", config, "quarantine", "retry", "5").stderr.strip() == "Error: no held quarantine entry 5"
    assert mailgate("-c", "/nonexistent/mailgate.toml", "serve").returncode == 2


def test_every_command_has_help():
    for command in (["init"], ["serve"], ["ingest"], ["inspect"], ["tickets", "list"], ["tickets", "show"],
                    ["quarantine", "list"], ["quarantine", "show"], ["quarantine", "retry"],
                    ["quarantine", "drop"], ["db", "upgrade"], ["config", "check"]):
        shown = mailgate(*command, "--help")
        assert shown.returncode == 0 and "Usage: mailgate" in shown.stdout, command


def test_inspect_reports_the_decision_and_writes_nothing(tmp_path, sqlite_url):
    cli = Cli(write_config(tmp_path / "mailgate.toml", config_document(tmp_path / "data", sqlite_url)))
    mail = tmp_path / "question.eml"
    mail.write_bytes(message(subject="Domanda", sender="Anna Bianchi <anna@example.it>",
                             to="billing@example.com").as_bytes())
    [report] = cli.json_lines("inspect", "--json", str(mail))
    assert set(report) == {"source", "message_id", "from", "from_name", "to", "cc", "subject", "date",
                           "language", "visible_text", "text", "attachments", "auto_submitted",
                           "is_bounce", "commands", "decision", "rule_hits"}
    assert (report["from"], report["from_name"], report["to"]) == ("anna@example.it", "Anna Bianchi",
                                                                   ["billing@example.com"])
    assert report["date"] == "2026-11-20T09:30:00+00:00"
    assert report["decision"] == {"action": "new_ticket", "ticket": None, "reason": None, "matched_by": None,
                                  "status": "new", "changes": {}, "tags": []}
    assert "queue:billing" in report["rule_hits"]
    assert not (tmp_path / "data").exists()

    [stored] = cli.json_lines("ingest", "--json", str(mail))
    [again] = cli.json_lines("inspect", "--json", str(mail))
    assert again["decision"]["action"] == "duplicate" and again["decision"]["ticket"] == stored["ticket"]
    assert len(cli.tickets()) == 1
    human = cli.run("inspect", str(mail)).stdout.decode()
    assert "decision:   duplicate" in human


def test_templates_check_names_file_and_line_of_a_broken_override_and_preview_renders(tmp_path):
    override = tmp_path / "templates"
    (override / "it").mkdir(parents=True)
    (override / "it" / "ticket_received.body.txt").write_text(
        '{% extends "_customer.body.txt" %}\n{% block content %}\nGrazie {{ ticket.numero }}\n{% endblock %}\n')
    (override / "fr").mkdir()
    (override / "fr" / "ticket_solved.subject.txt").write_text("Résolu {{ ticket.subject \n")
    document = config_document(tmp_path / "data", notify={"templates_dir": str(override)})
    cli = Cli(write_config(tmp_path / "mailgate.toml", document))

    checked = cli.run("templates", "check", check=False)
    lines = checked.stdout.decode().splitlines()
    assert checked.returncode == 1
    assert any(line.startswith(f"{override}/it/ticket_received.body.txt:3: ") and "numero" in line
               for line in lines), lines
    assert any(line.startswith(f"{override}/fr/ticket_solved.subject.txt:1: ") for line in lines), lines
    config_checked = cli.run("config", "check", check=False)
    assert config_checked.returncode == 2 and b"template problem" in config_checked.stderr

    (override / "it" / "ticket_received.body.txt").unlink()
    (override / "fr" / "ticket_solved.subject.txt").write_text("Résolu : {{ ticket.subject }}\n")
    passed = cli.run("templates", "check")
    assert passed.stdout.decode().startswith("templates ok: 14 events in en, es, fr, it, ru")
    preview = cli.run("templates", "preview", "ticket_solved", "--lang", "fr").stdout.decode()
    assert preview.startswith("Subject: [#1234] Résolu : ") and "##- Veuillez écrire" in preview
    html = cli.run("templates", "preview", "flood_notice", "--lang", "ru", "--html").stdout.decode()
    assert html.startswith("Subject: Слишком много писем")        # no ticket: no tag
    assert "\n\n<!DOCTYPE html>\n" in html and '<html lang="ru">' in html
