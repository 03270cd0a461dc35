"""The sections of mailgate.toml: one frozen dataclass each, every key with
its default, what it does (the sample config prints it) and the check its
value must pass. Loading and environment overrides are in config.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from mailgate.directory import is_address, is_language, is_timezone


def _check_hostport(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"expected HOST:PORT, got {value!r}"
    return None


def _check_optional_hostport(value: str) -> str | None:
    return _check_hostport(value) if value else None


def _check_address(value: str) -> str | None:
    if value and not is_address(value):
        return f"not a mail address: {value!r}"
    return None


def _check_positive(value: int) -> str | None:
    return None if value > 0 else f"must be a positive number, got {value}"


def _check_percent(value: int) -> str | None:
    return None if 0 < value <= 100 else f"must be a percentage (1-100), got {value}"


def _check_level(value: str) -> str | None:
    levels = ("debug", "info", "warning", "error")
    return None if value.lower() in levels else f"must be one of {', '.join(levels)}"


def _check_secret(value: str) -> str | None:
    if len(value) < 32:
        return "must be set to at least 32 random characters (`mailgate init` writes one)"
    return None


def _check_tag(value: str) -> str | None:
    if value.count("{number}") != 1:
        return "must contain {number} exactly once, e.g. \"[#{number}]\""
    return None


def _check_date(value: str) -> str | None:
    try:
        if value and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            date.fromisoformat(value)
            return None
    except ValueError:
        pass
    return f"expected a date YYYY-MM-DD, got {value!r}" if value else None


def _check_previous_secret(value: str) -> str | None:
    return _check_secret(value) if value else None


def _check_url(value: str) -> str | None:
    if value and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        return f"expected a sqlite:// or postgresql+psycopg:// URL, got {value!r}"
    return None


def _doc(text: str, check=None) -> dict:
    return {"doc": text, "check": check}


@dataclass(frozen=True)
class SiteConfig:
    name: str = field(default="Support", metadata=_doc(
        "Name of the support team, shown in From: \"<Agent> via <name>\"."))
    domain: str = field(default="example.com", metadata=_doc(
        "Mail domain of the helpdesk; default addresses below derive from it."))
    secret_key: str = field(default="", repr=False, metadata=_doc(
        "Secret for signed reply tokens, Message-IDs and links. Keep it secret; "
        "prefer MAILGATE_SITE_SECRET_KEY in production.", _check_secret))
    portal_url: str = field(default="", metadata=_doc(
        "Base URL of the ticket page linked from notifications, e.g. https://support.example.com."))
    noreply_address: str = field(default="", metadata=_doc(
        "Address of notices that expect no answer (default noreply@<domain>).", _check_address))
    bounce_address: str = field(default="", metadata=_doc(
        "Return path for bounces; VERP adds +<id> (default bounces@<domain>).", _check_address))
    subject_tag: str = field(default="[#{number}]", metadata=_doc(
        "Ticket tag put in subjects and recognised in replies.", _check_tag))
    previous_secret_key: str = field(default="", repr=False, metadata=_doc(
        "The secret before the last change: tokens and links it signed are still "
        "accepted until previous_key_until (or for good if that is empty).",
        _check_previous_secret))
    previous_key_until: str = field(default="", metadata=_doc(
        "Last day (YYYY-MM-DD) the previous secret is accepted.", _check_date))


def _check_sync(value: str) -> str | None:
    return None if value in ("auto", "file") else 'must be "auto" or "file"'


@dataclass(frozen=True)
class DataConfig:
    dir: str = field(default="data", metadata=_doc(
        "Data directory: raw mail, attachments and the SQLite database. "
        "Relative paths are relative to this file."))
    sync: str = field(default="auto", metadata=_doc(
        "How stored mail is made durable before it is acknowledged: \"file\" "
        "fsyncs every file and its directory; \"auto\" flushes the data "
        "directory's file system once per batch (syncfs, on Linux), which is "
        "as safe and far cheaper under load, and falls back to \"file\" "
        "elsewhere. Prefer \"file\" if the data directory shares its file "
        "system with heavy unrelated writes.", _check_sync))


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = field(default="", metadata=_doc(
        "SQLAlchemy URL; empty means SQLite in the data directory. "
        "PostgreSQL: postgresql+psycopg://user:password@host/dbname", _check_url))


@dataclass(frozen=True)
class SmtpConfig:
    listen: str = field(default="127.0.0.1:2525", metadata=_doc(
        "HOST:PORT of the SMTP listener; empty disables it.", _check_optional_hostport))
    hostname: str = field(default="", metadata=_doc(
        "Name in the 220 greeting and EHLO answer (default: site.domain)."))
    tls_cert: str = field(default="", metadata=_doc(
        "PEM certificate for STARTTLS; empty disables STARTTLS."))
    tls_key: str = field(default="", metadata=_doc("PEM private key for STARTTLS."))


@dataclass(frozen=True)
class LmtpConfig:
    listen: str = field(default="", metadata=_doc(
        "HOST:PORT of the LMTP listener for an MTA such as Postfix; empty disables it.",
        _check_optional_hostport))


@dataclass(frozen=True)
class LimitsConfig:
    max_message_size: int = field(default=50 * 1024 * 1024, metadata=_doc(
        "Largest message accepted, in bytes (SMTP answers 552 5.3.4 above it).", _check_positive))
    max_attachment_size: int = field(default=50 * 1024 * 1024, metadata=_doc(
        "Largest single attachment extracted, in bytes; larger ones stay in the raw mail only.",
        _check_positive))
    max_recipients: int = field(default=100, metadata=_doc(
        "Most recipients accepted in one SMTP transaction.", _check_positive))


@dataclass(frozen=True)
class IngestConfig:
    workers: int = field(default=2, metadata=_doc(
        "Threads that store and parse incoming mail in parallel.", _check_positive))
    batch_size: int = field(default=64, metadata=_doc(
        "Most messages committed together in one database transaction.", _check_positive))
    imap_reconnect_intervals: str = field(default="1s 5s 30s 2m 5m", metadata=_doc(
        "Waits before reconnecting to an IMAP server that failed, one after the "
        "other, the last repeating.", lambda value: _check_intervals(value)))
    imap_idle_minutes: int = field(default=25, metadata=_doc(
        "Minutes one IDLE command lasts before it is renewed (servers may end it "
        "after 29, RFC 2177).", lambda value: None if 1 <= value <= 28 else f"must be 1-28, got {value}"))
    imap_max_attempts: int = field(default=5, metadata=_doc(
        "Times a message that cannot be fetched or processed is tried before it "
        "is quarantined with its reason and marked.", _check_positive))


def _check_intervals(value: str) -> str | None:
    try:
        intervals = parse_intervals(value)
    except ValueError:
        intervals = ()
    if not intervals:
        return f"expected durations such as \"1m 5m 30m 2h\", got {value!r}"
    return None


def parse_intervals(value: str) -> tuple[float, ...]:
    """"30s 5m 2h" -> (30.0, 300.0, 7200.0); raises ValueError on anything else."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    intervals = []
    for word in value.replace(",", " ").split():
        number, unit = word[:-1], word[-1:]
        if unit not in units or not re.fullmatch(r"\d+(\.\d+)?", number) or float(number) <= 0:
            raise ValueError(word)
        intervals.append(float(number) * units[unit])
    return tuple(intervals)


def _check_timezone(value: str) -> str | None:
    return None if is_timezone(value) else f"not a time zone name such as Europe/Rome: {value!r}"


def _check_language(value: str) -> str | None:
    return None if is_language(value) else f"expected a language code such as 'en' or 'pt_BR', got {value!r}"


def _check_optional_file(value: str) -> str | None:
    return None if not value or Path(value).expanduser().is_file() else f"no such file: {value}"


@dataclass(frozen=True)
class OutboundConfig:
    relay: str = field(default="127.0.0.1:25", metadata=_doc(
        "HOST:PORT of the SMTP relay that delivers our notifications.", _check_hostport))
    starttls: bool = field(default=False, metadata=_doc("Use STARTTLS with the relay."))
    username: str = field(default="", metadata=_doc("Relay login; empty means no AUTH."))
    password: str = field(default="", repr=False, metadata=_doc(
        "Relay password; prefer MAILGATE_OUTBOUND_PASSWORD."))
    timeout: int = field(default=60, metadata=_doc(
        "Seconds to wait for the relay before trying again later.", _check_positive))
    retry_intervals: str = field(default="1m 5m 15m 1h 4h", metadata=_doc(
        "Waits between delivery attempts after a temporary failure; the last one "
        "repeats until give_up_hours.", _check_intervals))
    give_up_hours: int = field(default=120, metadata=_doc(
        "Hours after which a mail the relay keeps deferring is marked failed.", _check_positive))
    batch_size: int = field(default=100, metadata=_doc(
        "Most mails handed to the relay over one connection.", _check_positive))
    poll_interval: str = field(default="1s", metadata=_doc(
        "How often the sender looks for mail to send when it has nothing to do.",
        _check_intervals))
    dkim_selector: str = field(default="", metadata=_doc(
        "DKIM selector; with dkim_key_file set, outgoing mail is DKIM-signed."))
    dkim_key_file: str = field(default="", metadata=_doc(
        "PEM private key for DKIM signing (RSA or Ed25519).", _check_optional_file))
    dkim_domain: str = field(default="", metadata=_doc(
        "Signing domain (d=) for DKIM (default: site.domain)."))


@dataclass(frozen=True)
class NotifyConfig:
    default_language: str = field(default="en", metadata=_doc(
        "Language of notifications when nothing better is known, and the last "
        "fallback of the templates.", _check_language))
    templates_dir: str = field(default="", metadata=_doc(
        "Folder of template overrides: <dir>/<lang>/<event>.<part> takes "
        "precedence over the shipped file of the same name. Relative paths are "
        "relative to this file."))
    timezone: str = field(default="UTC", metadata=_doc(
        "Time zone of the support team, for times in notifications when the "
        "queue sets none and the customer's is unknown.", _check_timezone))


def _check_target(value: str) -> str | None:
    from scheduler.sla import parse_target
    try:
        parse_target(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class SlaConfig:
    first_response_high: str = field(default="1h", metadata=_doc(
        "Business time to a first answer for a high-priority ticket: \"30m\", \"4h\", "
        "\"1d\" (one working day of the queue's calendar), \"1d 4h\". A queue's "
        "first_response table overrides these.", _check_target))
    first_response_medium: str = field(default="4h", metadata=_doc(
        "Business time to a first answer for a medium-priority ticket.", _check_target))
    first_response_low: str = field(default="1d", metadata=_doc(
        "Business time to a first answer for a low-priority ticket.", _check_target))
    next_response_high: str = field(default="1h", metadata=_doc(
        "Business time to the answer of a customer's later mail, high priority. A "
        "queue's next_response table overrides these.", _check_target))
    next_response_medium: str = field(default="4h", metadata=_doc(
        "Business time to the answer of a customer's later mail, medium priority.", _check_target))
    next_response_low: str = field(default="1d", metadata=_doc(
        "Business time to the answer of a customer's later mail, low priority.", _check_target))
    warning_percent: int = field(default=80, metadata=_doc(
        "Share of the response time after which the assignee (or the queue's "
        "agents) get sla_warning.", _check_percent))


@dataclass(frozen=True)
class ConversationConfig:
    cc_participants: bool = field(default=True, metadata=_doc(
        "Addresses in Cc of a ticket's first mail may take part in it."))
    trusted_authserv_ids: str = field(default="", metadata=_doc(
        "Comma-separated authserv-ids of the MTAs whose Authentication-Results we "
        "believe; a DMARC fail from them makes the sender no participant."))
    auto_replies_per_hour: int = field(default=5, metadata=_doc(
        "Most automatic mails (acknowledgements, rejections) to one address per hour.",
        _check_positive))
    flood_tickets_per_hour: int = field(default=10, metadata=_doc(
        "New tickets from one sender per hour before further mail is held as flood.",
        _check_positive))
    same_topic_hours: int = field(default=24, metadata=_doc(
        "A new mail repeating one of the sender's tickets of the last hours joins it.",
        _check_positive))
    same_topic_similarity: int = field(default=90, metadata=_doc(
        "How alike (percent) its text must be to count as the same topic.", _check_percent))
    suppression_days: int = field(default=60, metadata=_doc(
        "Days an address that bounced hard gets no mail from us.", _check_positive))
    link_days: int = field(default=30, metadata=_doc(
        "Days a link to a ticket in our mail stays valid.", _check_positive))


@dataclass(frozen=True)
class SchedulerConfig:
    sweep_seconds: int = field(default=60, metadata=_doc(
        "How often `mailgate serve` runs the scheduled sweeps (response targets, "
        "inactivity closure).",
        _check_positive))
    close_after_days: int = field(default=2, metadata=_doc(
        "Days without an answer after which a ticket waiting on its customer (or "
        "solved) is closed.", _check_positive))
    remind_after_days: int = field(default=1, metadata=_doc(
        "Days after which a ticket waiting on its customer gets one reminder "
        "(not less than close_after_days: no reminder)."))
    business_days: bool = field(default=False, metadata=_doc(
        "Count those days in the queue's business calendar instead of calendar days."))
    batch_size: int = field(default=500, metadata=_doc(
        "Most tickets one sweep handles in one transaction.", _check_positive))


@dataclass(frozen=True)
class LogConfig:
    level: str = field(default="info", metadata=_doc(
        "Log level: debug, info, warning or error.", _check_level))


SECTIONS: dict[str, type] = {
    "site": SiteConfig,
    "data": DataConfig,
    "database": DatabaseConfig,
    "smtp": SmtpConfig,
    "lmtp": LmtpConfig,
    "limits": LimitsConfig,
    "ingest": IngestConfig,
    "conversation": ConversationConfig,
    "outbound": OutboundConfig,
    "notify": NotifyConfig,
    "sla": SlaConfig,
    "scheduler": SchedulerConfig,
    "log": LogConfig,
}
