"""Stage 9: the outbox delivered over SMTP (SPEC §6.4), in its own thread of
`mailgate serve`.

One pass claims the due entries, renders those not rendered yet and keeps
the bytes (every retry sends the same mail with the same Message-ID), hands
them to the relay over one connection, and records each outcome: sent; a 5xx
is permanent (failed, never retried); a 4xx, a refused connection or a lost
one is temporary (retried after the next configured interval, until
outbound.give_up_hours). An address on the suppression list is skipped with
the reason. The envelope sender is the signed VERP address of the entry, so
a bounce finds its way back to it (SPEC §4.4).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import jinja2
import sqlalchemy as sa

from mailgate.config import Config
from mailgate.sections import parse_intervals
from mailgate.errors import ConfigError, StorageUnavailable
from mailgate.mail.tokens import Signer
from mailgate.notify.compose import Headers, compose, dkim_sign, needs_smtputf8
from mailgate.notify.render import Templates
from storage import outbox
from storage.db import reading, transaction
from storage.rawstore import FileStore

log = logging.getLogger("mailgate.outbox")
LEASE = timedelta(minutes=15)     # at least; a claimed entry comes back after this if its sender died


@dataclass(frozen=True)
class Result:
    entry: int
    outcome: str                   # "sent", "temporary", "permanent" or "untried"
    detail: str = ""


@dataclass(frozen=True)
class Pass:
    """What one pass did, for logs, tests and `serve`'s loop."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


class TemplateProblem(Exception):
    """A template could not be rendered: where and why, as "file:line: message"."""


def with_tag(config: Config, subject: str, ticket: int | None) -> str:
    if ticket is None:
        return subject
    tag = config.site.subject_tag.replace("{number}", str(ticket))
    return subject if tag in subject else f"{tag} {subject}".strip()


class Renderer:
    """An outbox entry's RFC 5322 bytes, from its stored template context."""

    def __init__(self, config: Config, templates: Templates):
        self.config = config
        self.templates = templates
        self.dkim_key = dkim_key(config)
        self.files = FileStore(config.data_dir / "attachments")

    def render(self, entry: outbox.Claimed | object, now: datetime) -> tuple[bytes, str]:
        mail = entry.context["mail"]
        try:
            rendered = self.templates.render(entry.event, entry.language or self.config.notify.default_language,
                                             entry.context["vars"], mail["zone"])
        except Exception as exc:          # noqa: BLE001 - a syntax error, or a filter given the wrong value
            raise TemplateProblem(describe_template_error(exc)) from None
        subject = with_tag(self.config, rendered.subject, entry.ticket_id)
        raw = compose(replace(rendered, subject=subject), Headers(
            from_addr=mail["from_addr"], from_name=mail["from_name"], to_addr=entry.to_addr,
            to_name=mail["to_name"], message_id=entry.message_id, date=now, reply_to=entry.reply_to,
            in_reply_to=mail["in_reply_to"], references=tuple(mail["references"]),
            auto_submitted=mail["auto_submitted"], language=entry.language),
            attachments=[(a["filename"], a["content_type"], self.files.get(a["sha256"]))
                         for a in mail.get("attachments", ())])
        if self.dkim_key:
            domain = self.config.outbound.dkim_domain or self.config.site.domain
            raw = dkim_sign(raw, self.config.outbound.dkim_selector, domain, self.dkim_key)
        return raw, subject


def dkim_key(config: Config) -> bytes | None:
    """The DKIM private key, checked by signing a test message; None when
    signing is not configured."""
    settings = config.outbound
    if not (settings.dkim_key_file and settings.dkim_selector):
        return None
    try:
        key = Path(settings.dkim_key_file).expanduser().read_bytes()
        dkim_sign(b"From: a@example.com\r\nSubject: test\r\n\r\ntest\r\n", settings.dkim_selector,
                  settings.dkim_domain or config.site.domain, key)
    except OSError as exc:
        raise ConfigError(f"outbound.dkim_key_file: cannot read {settings.dkim_key_file}: {exc.strerror}") from None
    except Exception as exc:          # noqa: BLE001 - dkimpy says "not a key" in many ways
        raise ConfigError(f"outbound.dkim_key_file: not a usable DKIM private key ({exc})") from None
    return key


def describe_template_error(exc: Exception) -> str:
    """"it/ticket_received.body.txt:3: 'nope' is undefined" from what a
    template raised."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"{exc.name}: no such template"
    import traceback
    what = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith((".txt", ".html")):
            return f"{frame.filename}:{frame.lineno}: {what}"
    return what


class Sender:
    def __init__(self, config: Config, engine: sa.Engine, templates: Templates, signer: Signer,
                 clock: Callable[[], datetime] | None = None):
        self.config = config
        self.engine = engine
        self.signer = signer
        self.renderer = Renderer(config, templates)
        self.intervals = parse_intervals(config.outbound.retry_intervals)
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def reconfigure(self, config: Config, templates: Templates, signer: Signer) -> None:
        """A reloaded config (SIGHUP), from the next pass on."""
        renderer = Renderer(config, templates)          # checks the DKIM key first
        self.config, self.signer, self.renderer = config, signer, renderer
        self.intervals = parse_intervals(config.outbound.retry_intervals)

    # -- the loop of `mailgate serve` -----------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        idle = parse_intervals(self.config.outbound.poll_interval)[0]
        down = False
        while not stop.is_set():
            try:
                done = self.send_due(stop)
                if down:
                    log.info("outbox: the database is back")
                down = False
            except StorageUnavailable as exc:     # the mail waits in the database: nothing lost
                if not down:                      # once per outage, not once per poll
                    log.warning("outbox: %s; trying again every %.1f s", exc, idle)
                down = True
                done = Pass()
            except sa.exc.SQLAlchemyError as exc:     # e.g. the connection cut by a restart
                log.warning("outbox: database error, trying again: %s", str(exc).splitlines()[0])
                done = Pass()
            except Exception:          # noqa: BLE001 - the loop must outlive a bad pass
                log.exception("outbox pass failed; trying again in %.1f s", idle)
                done = Pass()
            if done.claimed < self.config.outbound.batch_size:
                (wake or stop).wait(idle)
                if wake is not None:
                    wake.clear()

    # -- one pass --------------------------------------------------------------

    def send_due(self, stop: threading.Event | None = None) -> Pass:
        """Claim, render, deliver and record the due entries. Each outcome is
        recorded as soon as the relay answered, so a crash or a stop between
        two mails sends neither of them twice."""
        now = self.clock()
        with reading(self.engine) as session:
            if not outbox.any_due(session, now):
                return Pass()
        claimed, skipped = self._claim(now)
        ready, failed = self._render(claimed, now)
        counts = {"sent": 0, "retried": 0, "failed": failed}
        entries = {entry.id: entry for entry, _ in ready}
        for result in self.deliver(ready, stop):
            counts[self._record(result, entries[result.entry])] += 1
        return Pass(claimed=len(claimed), skipped=skipped, **counts)

    @property
    def lease(self) -> timedelta:
        """Longer than a whole batch can take, so no other sender takes an
        entry this one still means to send."""
        settings = self.config.outbound
        return max(LEASE, timedelta(seconds=settings.batch_size * (settings.timeout + 5)))

    def _claim(self, now: datetime) -> tuple[list[outbox.Claimed], int]:
        """Claim due entries; skip those to suppressed addresses."""
        kept, skipped = [], 0
        with transaction(self.engine) as session:
            for entry in outbox.claim_due(session, now, self.config.outbound.batch_size, self.lease):
                why = outbox.suppression_of(session, entry.to_addr.lower(), now)
                if why is None:
                    kept.append(entry)
                    continue
                outbox.mark_failed(session, entry.id, f"suppressed: {why}", outbox.SKIPPED)
                skipped += 1
        return kept, skipped

    def _render(self, claimed: list[outbox.Claimed], now: datetime) -> tuple[list, int]:
        """Render what is not rendered yet and keep the bytes. An entry that
        cannot be rendered fails with the reason; the others go on."""
        ready, rendered, failures = [], [], []
        for entry in claimed:
            if entry.raw is not None:
                ready.append((entry, entry.raw))
                continue
            try:
                raw, subject = self.renderer.render(entry, now)
            except TemplateProblem as exc:
                failures.append((entry, f"template_error: {exc}"))
                continue
            except Exception as exc:      # noqa: BLE001 - one entry must not stop the others
                failures.append((entry, f"render_error: {type(exc).__name__}: {exc}"))
                continue
            rendered.append((entry, raw, subject))
            ready.append((entry, raw))
        if rendered or failures:
            with transaction(self.engine) as session:
                for entry, raw, subject in rendered:
                    outbox.store_raw(session, entry.id, raw, subject)
                for entry, why in failures:
                    log.error("outbox %d (%s) not sent: %s", entry.id, entry.event, why)
                    outbox.mark_failed(session, entry.id, why)
        return ready, len(failures)

    def _record(self, result: Result, entry: outbox.Claimed) -> str:
        """Write one outcome; which count of the Pass it adds to."""
        now = self.clock()
        give_up = timedelta(hours=self.config.outbound.give_up_hours)
        if result.outcome != "sent":
            log.warning("outbox %d to %s: %s (%s)", entry.id, entry.to_addr, result.outcome, result.detail)
        with transaction(self.engine) as session:
            if result.outcome == "sent":
                outbox.mark_sent(session, [entry.id], now)
                return "sent"
            if result.outcome == "permanent":
                outbox.mark_failed(session, entry.id, result.detail)
                return "failed"
            if now - entry.created_at >= give_up:
                outbox.mark_failed(session, entry.id, f"gave up after {entry.attempts} attempts: "
                                   f"{result.detail}")
                return "failed"
            wait = 0 if result.outcome == "untried" else \
                self.intervals[min(entry.attempts, len(self.intervals)) - 1]
            outbox.mark_retry(session, entry.id, result.detail, now + timedelta(seconds=wait))
            return "retried"

    # -- SMTP ------------------------------------------------------------------

    def verp(self, entry: int) -> str:
        local, _, domain = self.config.site.bounce_address.partition("@")
        return f"{local}+{self.signer.verp_detail(entry)}@{domain}"

    def deliver(self, ready: Sequence[tuple[outbox.Claimed, bytes]],
                stop: threading.Event | None = None) -> Iterator[Result]:
        """Hand each mail to the relay over one connection, yielding each
        outcome as soon as the relay answered. After a stop or a lost
        connection, the mails not tried are "untried" (due again at once)."""
        settings = self.config.outbound
        if not ready:
            return
        host, _, port = settings.relay.rpartition(":")
        try:
            smtp = smtplib.SMTP(host, int(port), timeout=settings.timeout,
                                local_hostname=self.config.site.domain)
            self._start(smtp)
        except Exception as exc:          # noqa: BLE001 - refused, TLS, login, a bad password…
            for entry, _ in ready:
                yield Result(entry.id, "temporary", f"relay {settings.relay}: {_why(exc)}")
            return
        done = 0
        try:
            for entry, raw in ready:
                if stop is not None and stop.is_set():
                    break
                result = self._send_one(smtp, entry, raw)
                done += 1
                yield result
                if result.detail.startswith("connection lost"):
                    break
        finally:
            try:
                smtp.quit()
            except Exception:             # noqa: BLE001 - the connection is gone either way
                smtp.close()
        for entry, _ in ready[done:]:
            yield Result(entry.id, "untried", "not tried: stopping, or the relay connection was lost")

    def _start(self, smtp: smtplib.SMTP) -> None:
        settings = self.config.outbound
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, settings.password)

    def _send_one(self, smtp: smtplib.SMTP, entry: outbox.Claimed, raw: bytes) -> Result:
        sender = self.verp(entry.id)
        options = ["SMTPUTF8"] if needs_smtputf8(entry.to_addr, sender) else []
        try:
            smtp.sendmail(sender, [entry.to_addr], raw, mail_options=options)
            return Result(entry.id, "sent")
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()))
            return _by_code(entry.id, code, message)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return _by_code(entry.id, exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            return Result(entry.id, "permanent", f"relay: {exc}")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            return Result(entry.id, "temporary", f"connection lost: {_why(exc)}")
        except Exception as exc:          # noqa: BLE001 - e.g. an address smtplib cannot encode
            return Result(entry.id, "temporary", f"connection lost: {type(exc).__name__}: {exc}")


def _by_code(entry: int, code: int, message: bytes | str) -> Result:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return Result(entry, "permanent" if 500 <= code < 600 else "temporary", f"{code} {text}"[:500])


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
