"""Config: defaults, env overrides, one-line errors naming the key, the sample."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from mailgate.config import SECTIONS, build_config, load_config
from mailgate.errors import ConfigError
from mailgate.sample_config import render_sample

SECRET = "s" * 40


def minimal(**sections) -> dict:
    document: dict = {"site": {"secret_key": SECRET}}
    for name, values in sections.items():
        if isinstance(values, list):
            document[name] = values
        else:
            document.setdefault(name, {}).update(values)
    return document


def error_of(document: dict, environ: dict | None = None) -> str:
    with pytest.raises(ConfigError) as error:
        build_config(document, environ or {}, Path("/etc/mailgate/mailgate.toml"))
    message = str(error.value)
    assert "\n" not in message
    return message


def test_defaults_give_a_working_helpdesk_for_the_domain():
    config = build_config(minimal(site={"domain": "acme.test"}), {}, Path("/srv/mg/mailgate.toml"))
    assert [q.addresses for q in config.queues] == [("support@acme.test",)]
    assert config.site.noreply_address == "noreply@acme.test"
    assert config.site.bounce_address == "bounces@acme.test"
    assert config.smtp.listen == "127.0.0.1:2525" and config.lmtp.listen == ""
    assert config.limits.max_message_size == 50 * 1024 * 1024
    assert config.data_dir == Path("/srv/mg/data")
    assert config.database_url == "sqlite:////srv/mg/data/mailgate.db"


def test_environment_overrides_every_section_with_typed_values():
    environ = {
        "MAILGATE_SMTP_LISTEN": "0.0.0.0:25", "MAILGATE_LMTP_LISTEN": "127.0.0.1:8024",
        "MAILGATE_DATABASE_URL": "postgresql+psycopg://mg@db/mg", "MAILGATE_DATA_DIR": "/var/lib/mailgate",
        "MAILGATE_OUTBOUND_RELAY": "relay.example.com:587", "MAILGATE_OUTBOUND_STARTTLS": "yes",
        "MAILGATE_LIMITS_MAX_MESSAGE_SIZE": "1000000", "MAILGATE_SITE_SECRET_KEY": "e" * 32,
    }
    config = build_config(minimal(smtp={"listen": "127.0.0.1:2525"}), environ, Path("/x/mailgate.toml"))
    assert config.smtp.listen == "0.0.0.0:25"
    assert config.lmtp.listen == "127.0.0.1:8024"
    assert config.database_url == "postgresql+psycopg://mg@db/mg"
    assert config.data_dir == Path("/var/lib/mailgate")
    assert (config.outbound.relay, config.outbound.starttls) == ("relay.example.com:587", True)
    assert config.limits.max_message_size == 1_000_000
    assert config.site.secret_key == "e" * 32


@pytest.mark.parametrize("document, environ, expected", [
    (minimal(smtp={"listen": "localhost"}), {}, "smtp.listen: expected HOST:PORT, got 'localhost'"),
    (minimal(), {"MAILGATE_SMTP_LISTEN": "x:99999"}, "MAILGATE_SMTP_LISTEN: expected HOST:PORT"),
    (minimal(limits={"max_message_size": "big"}), {}, "limits.max_message_size: expected an integer"),
    (minimal(), {"MAILGATE_LIMITS_MAX_MESSAGE_SIZE": "10MB"}, "MAILGATE_LIMITS_MAX_MESSAGE_SIZE: expected an integer"),
    (minimal(limits={"max_message_size": 0}), {}, "limits.max_message_size: must be a positive number"),
    (minimal(smtp={"listne": "x:1"}), {}, "smtp.listne: unknown key"),
    (minimal(smpt={}), {}, "smpt: unknown section"),
    ({"site": {}}, {}, "site.secret_key: must be set"),
    (minimal(database={"url": "mysql://x"}), {}, "database.url: expected a sqlite:// or postgresql"),
    (minimal(site={"subject_tag": "[#]"}), {}, "site.subject_tag: must contain {number}"),
    (minimal(queues=[{"name": "a", "addresses": ["not-an-address"]}]), {}, "queues[0].addresses: not a plain mail address"),
    (minimal(queues=[{"name": "a", "addresses": ["a+b@x.test"]}]), {}, "queues[0].addresses: not a plain mail address"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "priority": "urgent"}]), {}, "queues[0].priority: expected one of low, medium, high"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"]}, {"name": "b", "addresses": ["A@x.test"]}]), {},
     "queues: a@x.test belongs to both 'a' and 'b'"),
    (minimal(queues=[{"name": "a", "addresses": ["noreply@example.com"]}]), {}, "queues: noreply@example.com is also site.noreply_address"),
    (minimal(queues=[]), {}, "queues: expected at least one [[queues]] table"),
    (minimal(queues=[{"name": "q" * 65, "addresses": ["a@x.test"]}]), {}, "queues[0].name: expected up to 64"),
    (minimal(outbound={"relay": ""}), {}, "outbound.relay: expected HOST:PORT"),
    (minimal(data={"sync": "never"}), {}, 'data.sync: must be "auto" or "file"'),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "closed_policy": "ignore"}]), {},
     "queues[0].closed_policy: expected one of reject, reopen, new_ticket"),
    (minimal(agents=[{"name": "Giulia", "address": "giulia"}]), {}, "agents[0].address: not a mail address"),
    (minimal(agents=[{"name": "Giulia", "address": "g@x.test", "queues": ["nope"]}]), {},
     "agents[0].queues: no queue named 'nope'"),
    (minimal(agents=[{"address": "g@x.test"}]), {}, "agents[0].name: missing"),
    (minimal(agents=[{"name": "G", "address": "g@x.test", "role": "boss"}]), {}, "agents[0].role: expected one of agent, supervisor"),
    (minimal(organisations=[{"name": "Acme", "domains": ["acme"]}]), {}, "organisations[0].domains: not a mail domain: 'acme'"),
    (minimal(organisations=[{"name": "Acme", "domains": ["acme.test"], "share_tickets": "yes"}]), {},
     "organisations[0].share_tickets: expected true or false"),
    (minimal(conversation={"same_topic_similarity": 101}), {}, "conversation.same_topic_similarity: must be a percentage"),
    (minimal(site={"previous_key_until": "2026-02-30"}), {}, "site.previous_key_until: expected a date YYYY-MM-DD"),
    (minimal(site={"previous_secret_key": "short"}), {}, "site.previous_secret_key: must be set to at least 32"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "hours": "weekdays"}]), {},
     'queues[0].hours: expected "Mon-Fri 09:00-18:00" or "24/7"'),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "holidays": "ZZ"}]), {},
     "queues[0].hours: no national holidays known for country code 'ZZ'"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "timezone": "Mars/Olympus"}]), {},
     "queues[0].timezone: not a time zone name"),
    (minimal(notify={"default_language": "english"}), {}, "notify.default_language: expected a language code"),
    (minimal(outbound={"retry_intervals": "soon"}), {}, "outbound.retry_intervals: expected durations"),
    (minimal(rules=[{"name": "r", "match_subject": "("}]), {}, "rules[0].match_subject: not a regular expression"),
    (minimal(sla={"first_response_high": "soon"}), {}, "sla.first_response_high: expected a response time"),
    (minimal(sla={"warning_percent": 0}), {}, "sla.warning_percent: must be a percentage"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "first_response": {"urgent": "1h"}}]), {},
     "queues[0].first_response.urgent: expected one of low, medium, high"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "next_response": {"high": "1w"}}]), {},
     "queues[0].next_response.high: expected a response time"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "next_response": "1h"}]), {},
     "queues[0].next_response: expected a table"),
    (minimal(queues=[{"name": "a", "addresses": ["a@x.test"], "escalation": ["boss"]}]), {},
     "queues[0].escalation: not a mail address"),
])
def test_bad_config_is_one_line_naming_the_key(document, environ, expected):
    assert error_of(document, environ).startswith(expected)


def test_queues_keep_config_order_and_lowercase_addresses():
    config = build_config(minimal(queues=[
        {"name": "support", "addresses": ["Support@Example.com"]},
        {"name": "billing", "addresses": ["billing@example.com"], "language": "it", "priority": "high"},
    ]))
    assert [(q.name, q.addresses, q.language, q.priority) for q in config.queues] == [
        ("support", ("support@example.com",), "", "medium"),
        ("billing", ("billing@example.com",), "it", "high")]


def test_sample_config_documents_every_key_with_its_default(tmp_path):
    text = render_sample("acme.test", SECRET)
    document = tomllib.loads(text)
    for section, cls in SECTIONS.items():
        for spec in dataclasses.fields(cls):
            assert spec.name in document[section], f"{section}.{spec.name} missing from the sample"
            if (section, spec.name) not in {("site", "domain"), ("site", "secret_key")}:
                assert document[section][spec.name] == spec.default
            assert f"# {spec.metadata['doc'][:20]}" in text
    path = tmp_path / "mailgate.toml"
    path.write_text(text)
    config = load_config(path, environ={})
    assert config.queues[0].addresses == ("support@acme.test",)


def test_missing_or_broken_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml", environ={})
    (tmp_path / "bad.toml").write_text("[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml", environ={})


def test_config_file_from_environment_when_no_path_given(tmp_path):
    (tmp_path / "mg.toml").write_text(render_sample("env.test", SECRET))
    config = load_config(None, environ={"MAILGATE_CONFIG": str(tmp_path / "mg.toml")})
    assert config.site.domain == "env.test"
