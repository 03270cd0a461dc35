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
from typing import Callable, Sequence

import jinja2
import sqlalchemy as sa

from mailgate.config import Config, parse_intervals
from mailgate.errors import StorageUnavailable
from mailgate.mail.tokens import Signer
from mailgate.notify.compose import Headers, compose, dkim_sign, needs_smtputf8
from mailgate.notify.render import Templates
from storage import outbox
from storage.db import transaction

log = logging.getLogger("mailgate.outbox")
LEASE = timedelta(minutes=15)     # a claimed entry comes back after this if its sender died


@dataclass(frozen=True)
class Result:
    entry: int
    outcome: str                   # "sent", "temporary" or "permanent"
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
        dkim = config.outbound
        self.dkim_key = Path(dkim.dkim_key_file).read_bytes() if dkim.dkim_key_file and dkim.dkim_selector else None

    def render(self, entry: outbox.Claimed | object, now: datetime) -> tuple[bytes, str]:
        mail = entry.context["mail"]
        try:
            rendered = self.templates.render(entry.event, entry.language or self.config.notify.default_language,
                                             entry.context["vars"], mail["zone"])
        except jinja2.TemplateError as exc:
            raise TemplateProblem(describe_template_error(exc)) from None
        subject = with_tag(self.config, rendered.subject, entry.ticket_id)
        raw = compose(replace(rendered, subject=subject), Headers(
            from_addr=mail["from_addr"], from_name=mail["from_name"], to_addr=entry.to_addr,
            to_name=mail["to_name"], message_id=entry.message_id, date=now, reply_to=entry.reply_to,
            in_reply_to=mail["in_reply_to"], references=tuple(mail["references"]),
            auto_submitted=mail["auto_submitted"], language=entry.language))
        if self.dkim_key:
            domain = self.config.outbound.dkim_domain or self.config.site.domain
            raw = dkim_sign(raw, self.config.outbound.dkim_selector, domain, self.dkim_key)
        return raw, subject


def describe_template_error(exc: jinja2.TemplateError) -> str:
    """"it/ticket_received.body.txt:3: 'nope' is undefined" from a Jinja error."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"{exc.name}: no such template"
    import traceback
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith((".txt", ".html")):
            return f"{frame.filename}:{frame.lineno}: {exc}"
    return str(exc)


class Sender:
    def __init__(self, config: Config, engine: sa.Engine, templates: Templates, signer: Signer,
                 clock: Callable[[], datetime] | None = None):
        self.config = config
        self.engine = engine
        self.signer = signer
        self.renderer = Renderer(config, templates)
        self.intervals = parse_intervals(config.outbound.retry_intervals)
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    # -- the loop of `mailgate serve` -----------------------------------------

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        idle = parse_intervals(self.config.outbound.poll_interval)[0]
        while not stop.is_set():
            try:
                done = self.send_due()
            except StorageUnavailable as exc:     # the mail waits in the database: nothing lost
                log.warning("outbox: %s; trying again in %.1f s", exc, idle)
                done = Pass()
            except Exception:          # noqa: BLE001 - the loop must outlive a bad pass
                log.exception("outbox pass failed; trying again in %.1f s", idle)
                done = Pass()
            if done.claimed < self.config.outbound.batch_size:
                (wake or stop).wait(idle)
                if wake is not None:
                    wake.clear()

    # -- one pass --------------------------------------------------------------

    def send_due(self) -> Pass:
        now = self.clock()
        ready, done = self._claim(now)
        if not ready:
            return done
        results = self.deliver(ready)
        return self._record(results, {entry.id: entry for entry, _ in ready}, done)

    def _claim(self, now: datetime) -> tuple[list[tuple[outbox.Claimed, bytes]], Pass]:
        """Claim due entries; skip suppressed addresses; render what is not rendered yet."""
        ready, skipped, failed = [], 0, 0
        with transaction(self.engine) as session:
            claimed = outbox.claim_due(session, now, self.config.outbound.batch_size, LEASE)
            for entry in claimed:
                why = outbox.suppression_of(session, entry.to_addr.lower(), now)
                if why is not None:
                    outbox.mark_failed(session, entry.id, f"suppressed: {why}", outbox.SKIPPED)
                    skipped += 1
                    continue
                raw = entry.raw
                if raw is None:
                    try:
                        raw, subject = self.renderer.render(entry, now)
                    except TemplateProblem as exc:
                        log.error("outbox %d (%s) not sent: template error %s", entry.id, entry.event, exc)
                        outbox.mark_failed(session, entry.id, f"template_error: {exc}")
                        failed += 1
                        continue
                    outbox.store_raw(session, entry.id, raw, subject)
                ready.append((entry, raw))
        return ready, Pass(claimed=len(claimed), skipped=skipped, failed=failed)

    def _record(self, results: list[Result], entries: dict, done: Pass) -> Pass:
        now = self.clock()
        sent, retried, failed = [], 0, done.failed
        give_up = timedelta(hours=self.config.outbound.give_up_hours)
        with transaction(self.engine) as session:
            for result in results:
                entry = entries[result.entry]
                if result.outcome == "sent":
                    sent.append(result.entry)
                elif result.outcome == "permanent":
                    outbox.mark_failed(session, result.entry, result.detail)
                    failed += 1
                elif now - entry.created_at >= give_up:
                    outbox.mark_failed(session, result.entry, f"gave up after {entry.attempts} "
                                       f"attempts: {result.detail}")
                    failed += 1
                else:
                    wait = self.intervals[min(entry.attempts, len(self.intervals)) - 1]
                    outbox.mark_retry(session, result.entry, result.detail, now + timedelta(seconds=wait))
                    retried += 1
            outbox.mark_sent(session, sent, now)
        for result in results:
            if result.outcome != "sent":
                log.warning("outbox %d to %s: %s (%s)", result.entry, entries[result.entry].to_addr,
                            result.outcome, result.detail)
        return replace(done, sent=len(sent), retried=retried, failed=failed)

    # -- SMTP ------------------------------------------------------------------

    def verp(self, entry: int) -> str:
        local, _, domain = self.config.site.bounce_address.partition("@")
        return f"{local}+{self.signer.verp_detail(entry)}@{domain}"

    def deliver(self, ready: Sequence[tuple[outbox.Claimed, bytes]]) -> list[Result]:
        """Hand each mail to the relay over one connection."""
        settings = self.config.outbound
        host, _, port = settings.relay.rpartition(":")
        try:
            smtp = smtplib.SMTP(host, int(port), timeout=settings.timeout,
                                local_hostname=self.config.site.domain)
        except (OSError, smtplib.SMTPException) as exc:
            return [Result(entry.id, "temporary", f"relay {settings.relay}: {_why(exc)}") for entry, _ in ready]
        results: list[Result] = []
        try:
            self._start(smtp)
            for entry, raw in ready:
                result = self._send_one(smtp, entry, raw)
                results.append(result)
                if result.detail.startswith("connection lost"):
                    break
        except (OSError, smtplib.SMTPException) as exc:
            results.append(Result(ready[len(results)][0].id, "temporary", f"relay: {_why(exc)}"))
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        done = {r.entry for r in results}
        results += [Result(entry.id, "temporary", "not tried: the relay connection was lost")
                    for entry, _ in ready if entry.id not in done]
        return results

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


def _by_code(entry: int, code: int, message: bytes | str) -> Result:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return Result(entry, "permanent" if 500 <= code < 600 else "temporary", f"{code} {text}"[:500])


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
