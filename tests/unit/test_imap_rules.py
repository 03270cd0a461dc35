"""IMAP fetching's pure rules (ingest/uids.py) and the [[imap]] config."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailgate.config import build_config
from mailgate.errors import ConfigError
from mailgate.ingest.uids import above_mark, backoff, done_up_to, search_criteria
from tests.conftest import config_document


def test_the_search_asks_for_what_is_above_the_mark_and_not_yet_acknowledged():
    assert search_criteria("seen", 0) == ["UNSEEN", "UID", "1:*"]       # the first time: not the old mail
    assert search_criteria("seen", 41) == ["UID", "42:*"]               # then even what a person read first
    assert search_criteria("move:Processed", 0) == ["NOT", "DELETED", "UID", "1:*"]
    assert search_criteria("delete", 7) == ["NOT", "DELETED", "UID", "8:*"]


def test_uid_star_matching_the_newest_message_below_the_mark_is_ignored():
    assert above_mark([41], 41) == []               # "42:*" matches UID 41 when it is the newest
    assert above_mark([45, 43, 43, 44], 41) == [43, 44, 45]


def test_the_mark_never_passes_a_message_still_pending():
    assert done_up_to(10, [11, 12, 14, 15], pending=[13]) == 12
    assert done_up_to(10, [11, 12], pending=[]) == 12
    assert done_up_to(10, [], pending=[11]) == 10
    assert done_up_to(20, [12], pending=[]) == 20   # never moves back


def test_reconnect_waits_grow_then_repeat_the_last():
    intervals = (1.0, 5.0, 30.0)
    assert [backoff(intervals, n) for n in (1, 2, 3, 4, 10)] == [1.0, 5.0, 30.0, 30.0, 30.0]


def box(**values) -> dict:
    return {"name": "inbox", "host": "imap.example.com", "user": "support@example.com",
            "password": "x", **values}


def error_of(**values) -> str:
    with pytest.raises(ConfigError) as error:
        build_config(config_document(Path("/tmp/data"), imap=[box(**values)]), {}, Path("/etc/mailgate.toml"))
    return str(error.value)


@pytest.mark.parametrize("values, expected", [
    ({"tls": "yes"}, "imap[0].tls: expected one of ssl, starttls, none"),
    ({"after": "archive"}, 'imap[0].after: expected "seen", "move:<folder>" or "delete"'),
    ({"after": "move:"}, 'imap[0].after: expected "seen", "move:<folder>" or "delete"'),
    ({"queue": "nope"}, "imap[0].queue: no queue named 'nope'"),
    ({"password": ""}, "imap[0]: set exactly one of password, password_env, oauth2_token_command"),
    ({"oauth2_token_command": "get-token"}, "imap[0]: set exactly one of"),
    ({"password": "", "password_env": "MAILGATE_TEST_NO_SUCH_VARIABLE"},
     "imap[0].password_env: the environment has no MAILGATE_TEST_NO_SUCH_VARIABLE"),
    ({"mode": "push"}, "imap[0].mode: expected one of idle, poll"),
    ({"port": "993"}, "imap[0].port: expected a int"),
])
def test_a_bad_mailbox_is_one_line_naming_the_key(values, expected):
    assert error_of(**values).startswith(expected)


def test_a_mailbox_with_defaults_uses_imaps_and_its_inbox():
    config = build_config(config_document(Path("/tmp/data"), imap=[box(password="s3cret-pw")]), {},
                          Path("/etc/mailgate.toml"))
    [mailbox] = config.imap
    assert (mailbox.server_port, mailbox.folder, mailbox.after, mailbox.mode) == (993, "INBOX", "seen", "idle")
    assert "s3cret-pw" not in repr(config)            # a config in a log line or traceback keeps it
