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
from datetime import datetime, timezone
from typing import Callable, Sequence

import sqlalchemy as sa
import sqlalchemy.orm as so

from mailgate import matching
from mailgate.config import Config
from mailgate.decide import decide
from mailgate.domain import (COMMENT, DUPLICATE, NEW_TICKET, QUARANTINED, Candidates, Decision,
                             Inbound, Outcome, ParsedMail, Recipient)
from mailgate.errors import NotFound, StorageUnavailable
from mailgate.mail.addresses import OurAddresses, envelope_recipients
from mailgate.mail.headers import clean
from mailgate.mail.parse import ParseError, parse_mail
from mailgate.mail.subject import find_tag, remove_tag, strip_prefixes
from storage import quarantine, tickets
from storage.db import is_conflict, reading, transaction
from storage.rawstore import FileStore

log = logging.getLogger("mailgate.ingest")


@dataclass(frozen=True)
class Prepared:
    """A message after stages 2-3: stored raw, parsed (or why it could not be)."""

    inbound: Inbound
    raw_sha256: str | None
    parsed: ParsedMail | None = None
    failure: str | None = None        # quarantine reason when parsing failed
    detail: str = ""
    unavailable: str | None = None    # the raw store could not be written
    dedup_key: str | None = None


@dataclass(frozen=True)
class Inspection:
    """What `mailgate inspect` shows: stages 3-6, nothing written."""

    parsed: ParsedMail | None
    decision: Decision


class Ingestor:
    def __init__(self, config: Config, engine: sa.Engine,
                 clock: Callable[[], datetime] | None = None):
        self.config = config
        self.engine = engine
        batch_sync = config.data.sync == "auto"
        self.raw_store = FileStore(config.data_dir / "raw", batch_sync=batch_sync)
        self.file_store = FileStore(config.data_dir / "attachments", batch_sync=batch_sync)
        self.ours = OurAddresses.from_config(config)
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
            decision = self.decide(session, prepared.inbound, prepared.parsed, prepared.dedup_key)
        outcome = self._record(session, prepared, decision, now)
        log.info("%s %s from %s: %s%s%s", prepared.inbound.source, _msgid(prepared),
                 prepared.parsed.from_addr if prepared.parsed else prepared.inbound.mail_from,
                 decision.action, f" #{outcome.ticket}" if outcome.ticket else "",
                 f" ({decision.reason})" if decision.reason else "")
        return outcome

    def decide(self, session: so.Session | None, inbound: Inbound, parsed: ParsedMail,
               dedup_key: str | None = None) -> Decision:
        """Stages 4-6: gather what the database knows (read only), match, decide."""
        recipients, source = self.recipients(inbound, parsed)
        if session is None:
            candidates = Candidates(tag_number=find_tag(self.config.site.subject_tag, parsed.subject))
        else:
            candidates = self._gather(session, parsed, dedup_key or matching.dedup_key(parsed, inbound))
        return decide(self.config, inbound, parsed, recipients, source, candidates)

    def recipients(self, inbound: Inbound, parsed: ParsedMail) -> tuple[list[Recipient], str]:
        headers = parsed.headers
        return envelope_recipients(self.ours, inbound.rcpt_tos, (
            headers.get("delivered-to", ()), headers.get("x-original-to", ()),
            parsed.to + parsed.cc))

    def _gather(self, session: so.Session, parsed: ParsedMail, dedup_key: str) -> Candidates:
        duplicate = tickets.find_duplicate(session, dedup_key)
        if duplicate:
            return Candidates(duplicate_of=duplicate[0], duplicate_ticket=duplicate[1])
        tag_number = find_tag(self.config.site.subject_tag, parsed.subject)
        return Candidates(
            referenced=tuple(tickets.tickets_by_message_ids(session, matching.thread_ids(parsed))),
            tagged=tickets.ticket_ref(session, tag_number) if tag_number is not None else None,
            tag_number=tag_number,
        )

    def _record(self, session: so.Session, prepared: Prepared, decision: Decision,
                now: datetime) -> Outcome:
        inbound, parsed = prepared.inbound, prepared.parsed
        if decision.action in (NEW_TICKET, COMMENT, DUPLICATE):
            number = self._store_message(session, prepared, decision, now)
            if inbound.quarantine_id:
                quarantine.release(session, inbound.quarantine_id, ticket_id=number, now=now)
        else:
            number = decision.ticket
            if self._hold(session, prepared, decision, now) is None:
                return Outcome(inbound.source, parsed.message_id if parsed else None, DUPLICATE,
                               number, "duplicate")
        return Outcome(inbound.source, parsed.message_id if parsed else None, decision.action,
                       number, decision.reason)

    def _store_message(self, session: so.Session, prepared: Prepared, decision: Decision,
                       now: datetime) -> int | None:
        inbound, parsed = prepared.inbound, prepared.parsed
        sender = parsed.from_addr or (inbound.mail_from or "").lower()
        author = tickets.contact_id(session, sender, parsed.from_name, now)
        number = decision.ticket
        if decision.action == NEW_TICKET:
            # "Re: AW: Rechnung" opening a ticket makes a ticket "Rechnung".
            subject = strip_prefixes(remove_tag(self.config.site.subject_tag, parsed.subject))
            number = tickets.create_ticket(session, subject=subject, queue=decision.queue,
                                           priority=decision.priority, requester_id=author,
                                           flags=(), now=now)
        elif decision.action == COMMENT:
            tickets.touch_ticket(session, number, now, decision.new_status)
        duplicate = decision.action == DUPLICATE
        row = tickets.add_message(
            session, ticket_id=None if duplicate else number, direction="in", visibility="public",
            author_id=author, from_address=sender, from_name=parsed.from_name[:200],
            to_addrs=list(parsed.to), cc_addrs=list(parsed.cc), subject=parsed.subject,
            date=parsed.date, date_offset=_offset_minutes(parsed.date), received_at=inbound.received_at,
            message_id=parsed.message_id, in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
            refs=" ".join(parsed.references) or None, visible_text=parsed.visible_text,
            text="" if duplicate else parsed.text, html=None if duplicate else parsed.html,
            language=parsed.language, raw_sha256=prepared.raw_sha256, size=len(inbound.raw),
            source=inbound.source[:300], action=decision.action, matched_by=decision.matched_by,
            rule_hits=list(decision.rule_hits),
            dedup_key=None if duplicate else prepared.dedup_key,
            duplicate_of=decision.duplicate_of,
        )
        if not duplicate:
            tickets.add_attachments(session, row, parsed.attachments)
        return number

    def _hold(self, session: so.Session, prepared: Prepared, decision: Decision,
              now: datetime) -> int | None:
        """Record a held message; None when the same bytes are already held for
        the same reason (the sender delivered it again)."""
        inbound, parsed = prepared.inbound, prepared.parsed
        if inbound.quarantine_id:
            quarantine.held_again(session, inbound.quarantine_id, action=decision.action,
                                  reason=decision.reason, detail=prepared.detail,
                                  ticket_id=decision.ticket, now=now)
            return inbound.quarantine_id
        if quarantine.held_copy(session, prepared.raw_sha256, decision.reason):
            return None
        return quarantine.add(
            session, created_at=now, source=inbound.source[:300], mail_from=inbound.mail_from,
            rcpt_tos=list(inbound.rcpt_tos), raw_sha256=prepared.raw_sha256, size=len(inbound.raw),
            message_id=parsed.message_id if parsed else None,
            from_address=parsed.from_addr if parsed else None,
            subject=parsed.subject if parsed else "", action=decision.action,
            reason=decision.reason, detail=prepared.detail, ticket_id=decision.ticket)

    # -- read-only and admin entry points -------------------------------------

    def inspect(self, inbound: Inbound, use_database: bool = True) -> Inspection:
        """Stages 3-6 without writing anything."""
        try:
            parsed = parse_mail(inbound.raw, max_attachment_size=self.config.limits.max_attachment_size)
        except ParseError as exc:
            return Inspection(None, Decision(QUARANTINED, reason=exc.reason, rule_hits=(exc.reason,)))
        if not use_database:
            return Inspection(parsed, self.decide(None, inbound, parsed))
        with reading(self.engine) as session:
            return Inspection(parsed, self.decide(session, inbound, parsed))

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


def _offset_minutes(date: datetime | None) -> int | None:
    offset = date.utcoffset() if date else None
    return int(offset.total_seconds() // 60) if offset is not None else None


def _msgid(prepared: Prepared) -> str:
    return (prepared.parsed.message_id if prepared.parsed else None) or "(no Message-ID)"


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}"[:1000] + where
