"""Which messages of an IMAP folder to fetch, and how far the folder is done
(SPEC §3.1). Pure: the worker in ingest/imap.py does the talking.

A folder's UIDs only grow while its UIDVALIDITY stays (RFC 3501 §2.3.1.1),
so "every message up to UID n is done" is one number. It only moves past
messages that are committed (or gone), never past one that is still
pending, so a restart or a failure re-reads what was not done and nothing
else; reading a message twice is harmless (it is recognised as a duplicate).
"""

from __future__ import annotations

from typing import Iterable


def search_criteria(after: str, last_uid: int) -> list:
    """What to SEARCH for: the messages above the mark. The first time (no
    mark yet) in a mailbox that keeps its mail, only the unread ones: the
    history already read is not a pile of new requests; after that, every
    message above the mark, even one somebody read in webmail first."""
    above = ["UID", f"{last_uid + 1}:*"]
    if after != "seen":
        return ["NOT", "DELETED"] + above
    return (["UNSEEN"] if last_uid == 0 else []) + above


def above_mark(found: Iterable[int], last_uid: int) -> list[int]:
    """The UIDs SEARCH found that are above the mark, oldest first ("n:*"
    always matches the newest message, even below n)."""
    return sorted(uid for uid in set(found) if uid > last_uid)


def done_up_to(last_uid: int, done: Iterable[int], pending: Iterable[int]) -> int:
    """The new mark: the highest UID done that no pending message precedes."""
    pending = list(pending)
    limit = min(pending) if pending else None
    below = [uid for uid in done if limit is None or uid < limit]
    return max([last_uid, *below])


def backoff(intervals: tuple[float, ...], failures: int) -> float:
    """The wait after the `failures`-th failure in a row (the last interval repeats)."""
    return intervals[min(max(failures, 1), len(intervals)) - 1]
