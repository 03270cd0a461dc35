"""`mailgate ingest`: mail from files, stdin, an mbox or a Maildir, many per
process and committed in batches. Used as an MTA pipe transport or from
procmail (one message on stdin), and to import old mail."""

from __future__ import annotations

import mailbox
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from typing import Callable, Iterable, Iterator

from mailgate.app import Ingestor
from mailgate.domain import REJECTED, Inbound, Outcome
from mailgate.mail.headers import MAX_ADDRESS

EX_DATAERR = 65      # sysexits.h: a message was unusable (here: too big); the MTA bounces it
EX_TEMPFAIL = 75     # sysexits.h: try again later; an MTA pipe queues and retries


@dataclass(frozen=True)
class Item:
    """One message to ingest: where it comes from and how to read it."""

    source: str
    size: Callable[[], int]
    read: Callable[[], bytes]


def from_files(paths: Iterable[str]) -> Iterator[Item]:
    for path in paths:
        yield Item(path, lambda p=path: os.path.getsize(p), lambda p=path: _read_file(p))


def from_stdin() -> Iterator[Item]:
    data = sys.stdin.buffer.read()
    yield Item("-", lambda: len(data), lambda: data)


def from_mbox(path: str) -> tuple[int, Iterator[Item]]:
    box = mailbox.mbox(path, create=False)
    keys = box.keys()
    return len(keys), _box_items(box, keys, lambda n, key: f"{path}#{n}")


def from_maildir(path: str) -> tuple[int, Iterator[Item]]:
    box = mailbox.Maildir(path, factory=None, create=False)
    keys = sorted(box.keys())
    return len(keys), _box_items(box, keys, lambda n, key: f"{path}#{key}")


def _box_items(box: mailbox.Mailbox, keys: list[str], name) -> Iterator[Item]:
    try:
        for n, key in enumerate(keys, 1):
            data = box.get_bytes(key)
            yield Item(name(n, key), lambda d=data: len(d), lambda d=data: d)
    finally:
        box.close()


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def run(ingestor: Ingestor, items: Iterable[Item], *, rcpt_tos: tuple[str, ...],
        mail_from: str | None, report: Callable[[Outcome], None]) -> int:
    """Ingest every item, reporting each outcome; returns the exit status.

    Stops at the first storage failure with EX_TEMPFAIL: everything reported
    before it is committed, and ingesting the same input again is harmless
    (repeats are recognised as duplicates).
    """
    limit = ingestor.config.limits.max_message_size
    batch_size, status = ingestor.config.ingest.batch_size, 0
    items = iter(items)
    with ThreadPoolExecutor(ingestor.config.ingest.workers) as pool:
        # While one batch commits, the workers already store and parse the next.
        pending = _prepare_next(pool, ingestor, items, batch_size, limit, rcpt_tos, mail_from)
        while pending:
            refused, futures = pending
            pending = _prepare_next(pool, ingestor, items, batch_size, limit, rcpt_tos, mail_from)
            for outcome in refused:
                report(outcome)
                status = status or EX_DATAERR
            outcomes = ingestor.commit([future.result() for future in futures])
            for outcome in outcomes:
                report(outcome)
            if any(outcome.temporary_failure for outcome in outcomes):
                for future in pending[1] if pending else ():
                    future.cancel()
                return EX_TEMPFAIL
    return status


def _prepare_next(pool, ingestor: Ingestor, items: Iterator[Item], batch_size: int, limit: int,
                  rcpt_tos: tuple[str, ...], mail_from: str | None):
    """Start preparing the next batch: (outcomes of refused items, futures)."""
    batch = list(islice(items, batch_size))
    if not batch:
        return None
    refused, futures = [], []
    for item in batch:
        if item.size() > limit:
            refused.append(Outcome(item.source, None, REJECTED, reason="too_big"))
            continue
        inbound = Inbound(raw=item.read(), source=item.source, received_at=datetime.now(timezone.utc),
                          mail_from=mail_from[:MAX_ADDRESS] if mail_from else mail_from, rcpt_tos=rcpt_tos)
        futures.append(pool.submit(ingestor.prepare, inbound))
    return refused, futures
