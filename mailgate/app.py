"""accept_message(): the one way in for every inbound path (SMTP, LMTP, IMAP,
pipe). It runs the stages of STYLE.md in order:

  2 store_raw  3 parse            -> prepare()   (per message, any thread)
  4 gather  5 match  6 decide  7 commit -> commit()   (a batch, one transaction)

The caller acknowledges (stage 8) only after commit() returns an outcome that
is not a temporary failure. A batch shares one transaction so concurrent SMTP
sessions can be made durable together (group commit).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Callable, Sequence

import sqlalchemy as sa
import sqlalchemy.orm as so

from mailgate import matching
from mailgate.config import Config
from mailgate.decide import decide, loop_names
from mailgate.domain import (QUARANTINED, Candidates, Decision, Inbound, Outcome, ParsedMail,
                             Prepared, Recipient)
from mailgate.errors import NotFound, StorageUnavailable
from mailgate.gather import gather, own_mail, read_token
from mailgate.mail import autosubmit
from mailgate.mail.addresses import OurAddresses, envelope_recipients
from mailgate.mail.headers import clean
from mailgate.mail.parse import ParseError, parse_mail
from mailgate.mail.subject import find_tag
from mailgate.mail.tokens import Signer
from mailgate.notify.enqueue import Notifier
from mailgate.notify.render import Templates
from mailgate.record import Recorder
from storage import quarantine
from storage.db import is_conflict, reading, transaction
from storage.rawstore import FileStore

log = logging.getLogger("mailgate.ingest")


@dataclass(frozen=True)
class Inspection:
    """What `mailgate inspect` shows: stages 3-6, nothing written."""

    parsed: ParsedMail | None
    decision: Decision
    automatic: tuple[str, ...] = ()     # the automatic-mail signals found (SPEC §4.4)


class Ingestor:
    def __init__(self, config: Config, engine: sa.Engine,
                 clock: Callable[[], datetime] | None = None):
        self.config = config
        self.engine = engine
        batch_sync = config.data.sync == "auto"
        self.raw_store = FileStore(config.data_dir / "raw", batch_sync=batch_sync)
        self.file_store = FileStore(config.data_dir / "attachments", batch_sync=batch_sync)
        self.ours = OurAddresses.from_config(config)
        self.signer = signer_from(config)
        self.templates = templates_from(config)
        self.notifier = Notifier(config, self.signer, self.templates)
        self.recorder = Recorder(config, self.signer, self.ours, self.notifier)
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    # -- the entry points ---------------------------------------------------

    def accept_message(self, inbound: Inbound) -> Outcome:
        return self.accept_many([inbound])[0]

    def accept_many(self, inbounds: Sequence[Inbound]) -> list[Outcome]:
        return self.commit([self.prepare(inbound) for inbound in inbounds])

    # -- stages 2-3 ---------------------------------------------------------

    def prepare(self, inbound: Inbound) -> Prepared:
        """Store the raw bytes, parse, store the attachments. Never raises: what
        goes wrong is in the Prepared (quarantine reason, or storage unavailable)."""
        inbound = _storable(inbound)
        try:
            sha = self.raw_store.put(inbound.raw)
        except StorageUnavailable as exc:
            return Prepared(inbound, None, unavailable=str(exc))
        except Exception as exc:          # a bug here must not hang or bounce the sender
            log.exception("cannot store a message from %s", inbound.source)
            return Prepared(inbound, None, unavailable=f"internal error: {type(exc).__name__}")
        try:
            parsed = parse_mail(inbound.raw, max_attachment_size=self.config.limits.max_attachment_size)
            dedup_key = matching.dedup_key(parsed, inbound)
        except ParseError as exc:
            return Prepared(inbound, sha, failure=exc.reason)
        except Exception as exc:     # a bug in parsing must not lose the mail: quarantine it
            return Prepared(inbound, sha, failure=f"parse_error:{type(exc).__name__}",
                            detail=_describe(exc))
        try:
            parsed = self._store_attachments(parsed)
        except StorageUnavailable as exc:
            return Prepared(inbound, sha, unavailable=str(exc))
        return Prepared(inbound, sha, parsed, dedup_key=dedup_key)

    def _store_attachments(self, parsed: ParsedMail) -> ParsedMail:
        stored = []
        for part in parsed.attachments:
            if part.payload is not None:
                self.file_store.put(part.payload, part.sha256)
            stored.append(replace(part, payload=None))
        return replace(parsed, attachments=tuple(stored))

    # -- stages 4-7 ---------------------------------------------------------

    def commit(self, batch: Sequence[Prepared]) -> list[Outcome]:
        """Decide and record a batch in one transaction; fall back to one
        transaction per message if any of them fails."""
        ready = [p for p in batch if p.unavailable is None]
        results = dict(zip(map(id, ready), self._commit_ready(ready))) if ready else {}
        return [results.get(id(p)) or _unavailable(p.inbound, p.unavailable) for p in batch]

    def _commit_ready(self, batch: Sequence[Prepared], retried: bool = False) -> list[Outcome]:
        now = self.clock()
        try:
            # The files the batch wrote become durable before the rows naming them.
            # Both stores live in the data directory, so one flush covers both.
            self.raw_store.sync()
            with transaction(self.engine) as session:
                return [self._apply(session, p, now) for p in batch]
        except StorageUnavailable as exc:
            log.warning("storage unavailable, %d message(s) deferred: %s", len(batch), exc)
            return [_unavailable(p.inbound, str(exc)) for p in batch]
        except Exception as exc:
            if len(batch) > 1:
                return [o for p in batch for o in self._commit_ready([p])]
            if is_conflict(exc) and not retried:
                return self._commit_ready(batch, retried=True)   # another writer won a race
            return [self._quarantine_after_error(batch[0], exc)]

    def _quarantine_after_error(self, prepared: Prepared, exc: Exception) -> Outcome:
        log.exception("cannot process %s from %s; quarantined", _msgid(prepared), prepared.inbound.source)
        reason = f"internal_error:{type(exc).__name__}"
        failed = replace(prepared, parsed=None, failure=reason, detail=_describe(exc))
        try:
            with transaction(self.engine) as session:
                return self._apply(session, failed, self.clock())
        except Exception as second:   # noqa: BLE001 - nothing else can be done but ask for a retry
            return _unavailable(prepared.inbound, f"cannot record the failure: {second}")

    def _apply(self, session: so.Session, prepared: Prepared, now: datetime) -> Outcome:
        if prepared.failure:
            decision = Decision(QUARANTINED, reason=prepared.failure, rule_hits=(prepared.failure,))
        else:
            decision = self.decide(session, prepared.inbound, prepared.parsed, prepared.dedup_key, now)
        outcome = self.recorder.record(session, prepared, decision, now)
        log.info("%s %s from %s: %s%s%s", prepared.inbound.source, _msgid(prepared),
                 prepared.parsed.from_addr if prepared.parsed else prepared.inbound.mail_from,
                 decision.action, f" #{outcome.ticket}" if outcome.ticket else "",
                 f" ({decision.reason})" if decision.reason else "")
        return outcome

    def decide(self, session: so.Session | None, inbound: Inbound, parsed: ParsedMail,
               dedup_key: str | None = None, now: datetime | None = None) -> Decision:
        """Stages 4-6: gather what the database knows (read only), match, decide."""
        now = now or self.clock()
        recipients, source = self.recipients(inbound, parsed)
        if session is None:
            token, _ = read_token(self.signer, recipients, now.date())
            candidates = Candidates(tag_number=find_tag(self.config.site.subject_tag, parsed.subject),
                                    token=token, own_mail=own_mail(self.signer, parsed, now))
        else:
            candidates = gather(self.config, self.signer, session, inbound, parsed, recipients,
                                dedup_key or matching.dedup_key(parsed, inbound), now)
        return decide(self.config, inbound, parsed, recipients, source, candidates, now)

    def recipients(self, inbound: Inbound, parsed: ParsedMail) -> tuple[list[Recipient], str]:
        headers = parsed.headers
        return envelope_recipients(self.ours, inbound.rcpt_tos, (
            headers.get("delivered-to", ()), headers.get("x-original-to", ()),
            parsed.to + parsed.cc, inbound.fallback_rcpt))

    # -- read-only and admin entry points -------------------------------------

    def inspect(self, inbound: Inbound, use_database: bool = True) -> Inspection:
        """Stages 3-6 without writing anything."""
        try:
            parsed = parse_mail(inbound.raw, max_attachment_size=self.config.limits.max_attachment_size)
        except ParseError as exc:
            return Inspection(None, Decision(QUARANTINED, reason=exc.reason, rule_hits=(exc.reason,)))
        automatic = tuple(autosubmit.signals(parsed, inbound.mail_from, loop_names(self.config)))
        if not use_database:
            return Inspection(parsed, self.decide(None, inbound, parsed), automatic)
        with reading(self.engine) as session:
            return Inspection(parsed, self.decide(session, inbound, parsed), automatic)

    def retry_quarantined(self, entry_id: int) -> Outcome:
        """Run a held message through the pipeline again (after a fix or a change)."""
        with reading(self.engine) as session:
            entry = quarantine.get(session, entry_id)
            if entry is None or entry.status != quarantine.HELD:
                raise NotFound(f"no held quarantine entry {entry_id}")
        inbound = Inbound(raw=self.raw_store.get(entry.raw_sha256), source=entry.source,
                          received_at=self.clock(), mail_from=entry.mail_from,
                          rcpt_tos=tuple(entry.rcpt_tos), quarantine_id=entry.id)
        return self.accept_message(inbound)


def templates_from(config: Config) -> Templates:
    return Templates(config.notify.default_language, config.notify.templates_dir or None)


def signer_from(config: Config) -> Signer:
    site = config.site
    until = date.fromisoformat(site.previous_key_until) if site.previous_key_until else None
    return Signer(site.secret_key, site.previous_secret_key, until)


def _storable(inbound: Inbound) -> Inbound:
    """The envelope as text any database takes: an SMTP sender or a file name
    with invalid UTF-8 must not make the message impossible to record."""
    fields = (inbound.source, inbound.mail_from or "", *inbound.rcpt_tos)
    if all(clean(field) == field for field in fields):
        return inbound
    return replace(inbound, source=clean(inbound.source),
                   mail_from=clean(inbound.mail_from) if inbound.mail_from else inbound.mail_from,
                   rcpt_tos=tuple(clean(r) for r in inbound.rcpt_tos))


def _unavailable(inbound: Inbound, why: str | None) -> Outcome:
    return Outcome(inbound.source, None, None, reason=f"temporary_failure: {why}",
                   temporary_failure=True)


def _msgid(prepared: Prepared) -> str:
    return (prepared.parsed.message_id if prepared.parsed else None) or "(no Message-ID)"


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}"[:1000] + where
