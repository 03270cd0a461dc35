"""IMAP ingest (SPEC §3.1): one thread per configured mailbox, inside
`mailgate serve`, so the SMTP event loop never waits on a mail server.

A worker logs in, selects its folder and drains it: it SEARCHes above the
folder's mark (ingest/uids.py), FETCHes `BODY.PEEK[]` (which leaves \\Seen
alone, unlike RFC822), hands the messages to the one entry point every path
uses, and only once they are committed marks them \\Seen, moves or deletes
them. Then it waits in IDLE (renewed before the 29 minutes of RFC 2177) or
polls. When the database is down nothing is acknowledged and the worker
tries again later; when the connection fails it reconnects after a backoff.
"""

from __future__ import annotations

import logging
import shlex
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailgate.domain import Inbound, Outcome
from mailgate.errors import StorageUnavailable
from mailgate.ingest.uids import above_mark, backoff, done_up_to, search_criteria
from mailgate.mailboxes import ImapConfig
from mailgate.sections import parse_intervals
from storage import imap_state
from storage.db import transaction

log = logging.getLogger("mailgate.imap")
SEEN, DELETED = b"\\Seen", b"\\Deleted"
FETCH_CHUNK = 32                # messages fetched and committed together
TIMEOUT = 60.0                  # seconds a server may take to answer one command
# An EXISTS that arrives with the server's "+ idling" can sit in the client's
# read buffer where waiting on the socket never sees it: so IDLE ends this
# often and the folder is searched anyway (one cheap SEARCH per mailbox).
IDLE_RECHECK = 30.0
# What a dropped connection or a server going away looks like from imapclient.
CONNECTION_ERRORS = (IMAPClientError, OSError, ssl.SSLError, socket.timeout, EOFError)


class MailboxError(Exception):
    """A mailbox that cannot be used: login refused, folder missing, no token."""


@dataclass
class Status:
    """What `mailgate imap check` reports of one mailbox."""

    capabilities: tuple[str, ...]
    messages: int
    unseen: int
    uidvalidity: int


def connect(box: ImapConfig) -> IMAPClient:
    """A logged-in client for `box` (TLS as configured). Never logs the secret."""
    context = ssl.create_default_context(cafile=box.ca_file or None)
    client = IMAPClient(box.host, port=box.server_port, ssl=box.tls == "ssl", ssl_context=context,
                        timeout=TIMEOUT)
    try:
        if box.tls == "starttls":
            client.starttls(context)
        if box.oauth2_token_command:
            client.oauth2_login(box.user, _token(box))
        else:
            client.login(box.user, box.secret())
    except IMAPClientError as exc:
        _close(client)
        raise MailboxError(f"login as {box.user} refused: {_short(exc)}") from None
    except BaseException:
        _close(client)
        raise
    return client


def check(box: ImapConfig) -> Status:
    """Log in, look at the folder, log out."""
    client = connect(box)
    try:
        if not client.folder_exists(box.folder):
            raise MailboxError(f"no folder {box.folder!r}")
        status = client.folder_status(box.folder, ["MESSAGES", "UNSEEN", "UIDVALIDITY"])
        capabilities = tuple(sorted(c.decode() for c in client.capabilities()))
        return Status(capabilities, status[b"MESSAGES"], status[b"UNSEEN"], status[b"UIDVALIDITY"])
    finally:
        _close(client)


class MailboxWorker:
    """Fetches one mailbox, in a thread of its own, until `stop` is set.
    `accept` is the ingest entry point (Ingestor.accept_many of the config
    in force)."""

    def __init__(self, box: ImapConfig, settings, engine, accept: Callable[[list[Inbound]], list[Outcome]],
                 stop: threading.Event, fallback_rcpt: tuple[str, ...] = ()):
        self.thread = threading.Thread(target=self.run, name=f"imap-{box.name}", daemon=True)
        self.box, self.engine, self.accept, self.stop = box, engine, accept, stop
        self.fallback_rcpt = fallback_rcpt                 # the address of the mailbox's queue
        self.reconnect = parse_intervals(settings.imap_reconnect_intervals)
        self.idle_seconds = settings.imap_idle_minutes * 60
        self.max_attempts = settings.imap_max_attempts
        self.attempts: dict[tuple[int, int], int] = {}     # (uidvalidity, uid) -> failed fetches
        self.failures = 0                                  # in a row, since the last complete drain

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                client = connect(self.box)
            except (MailboxError, *CONNECTION_ERRORS) as exc:
                self._pause(f"cannot connect: {_short(exc)}")
                continue
            except Exception as exc:          # noqa: BLE001 - e.g. a password imaplib cannot send
                self._pause(f"cannot log in: {type(exc).__name__}")
                continue
            try:
                log.info("imap %s: logged in to %s as %s", self.box.name, self.box.host, self.box.user)
                self._serve(client)
            except StorageUnavailable as exc:
                self._pause(f"{exc}; the mail stays in the mailbox")
            except (MailboxError, *CONNECTION_ERRORS) as exc:
                self._pause(f"connection lost: {_short(exc)}")
            except Exception:                 # noqa: BLE001 - a worker must outlive a bug
                log.exception("imap %s: unexpected error", self.box.name)
                self._pause("unexpected error")
            finally:
                _close(client)

    def _pause(self, why: str) -> None:
        """Wait longer after each failure in a row; a complete drain starts over."""
        self.failures += 1
        delay = backoff(self.reconnect, self.failures)
        log.warning("imap %s: %s; trying again in %gs", self.box.name, why, delay)
        self.stop.wait(delay)

    def _serve(self, client: IMAPClient) -> None:
        box = self.box
        if box.move_to and not client.folder_exists(box.move_to):
            client.create_folder(box.move_to)
        selected = client.select_folder(box.folder)
        uidvalidity = selected[b"UIDVALIDITY"]
        idle = box.mode == "idle" and client.has_capability("IDLE")
        while not self.stop.is_set():
            if not self.drain(client, uidvalidity):
                raise StorageUnavailable("the database is unavailable")
            self.failures = 0
            if _news_while_busy(client):
                continue            # mail arrived during the drain: its EXISTS will not come again
            if idle:
                self._idle(client)
            else:
                self.stop.wait(box.poll_seconds)
                client.noop()

    def _idle(self, client: IMAPClient) -> None:
        """Wait for new mail in IDLE; renewed before the server ends it."""
        client.idle()
        try:
            ends = time.monotonic() + min(self.idle_seconds, IDLE_RECHECK)
            quick = 0
            while not self.stop.is_set() and time.monotonic() < ends:
                asked = time.monotonic()
                responses = client.idle_check(timeout=1)
                if any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
                # An empty answer before the timeout happens once for a TLS record
                # with no IMAP line in it; many in a row mean the connection is at EOF.
                quick = quick + 1 if not responses and time.monotonic() - asked < 0.5 else 0
                if quick > 50:
                    raise ConnectionError("the server closed the connection during IDLE")
        finally:
            client.idle_done()

    # -- one pass over the folder ------------------------------------------------

    def drain(self, client: IMAPClient, uidvalidity: int) -> bool:
        """Take every message above the mark; False when storage is down
        (nothing more was acknowledged)."""
        last_uid = self._mark(uidvalidity)
        while not self.stop.is_set():
            uids = above_mark(client.search(search_criteria(self.box.after, last_uid)), last_uid)
            if not uids:
                return True
            pending: list[int] = []
            for start in range(0, len(uids), FETCH_CHUNK):
                chunk = uids[start:start + FETCH_CHUNK]
                done, waiting, unavailable = self._take(client, uidvalidity, chunk)
                pending += waiting
                last_uid = done_up_to(last_uid, done, pending + (chunk if unavailable else []))
                self._save_mark(uidvalidity, last_uid)
                if unavailable:
                    return False
                if self.stop.is_set():      # the mark is saved: the rest waits for the next start
                    return True
            if pending:                 # tried again on the next pass, after new mail or a poll
                return True
        return True

    def _take(self, client: IMAPClient, uidvalidity: int, chunk: list[int]):
        """Fetch, ingest and acknowledge `chunk`: (done, pending, storage down).
        Only committed mail is acknowledged; a message the server will not
        return is tried again, up to imap_max_attempts, then skipped (left
        in the folder, logged)."""
        got, failed = self._fetch(client, chunk)
        gone = self._gone(client, [uid for uid in chunk if uid not in got and uid not in failed])
        failed += [uid for uid in chunk if uid not in got and uid not in failed and uid not in gone]
        now = datetime.now(timezone.utc)
        source = f"imap:{self.box.name}"
        inbounds = [Inbound(raw=got[uid], source=source, received_at=now, fallback_rcpt=self.fallback_rcpt)
                    for uid in chunk if uid in got]
        outcomes = self.accept(inbounds) if inbounds else []
        if any(outcome.temporary_failure for outcome in outcomes):
            return [], [], True
        done = [uid for uid in chunk if uid in got]
        self._acknowledge(client, done)
        skipped = [uid for uid in failed if self._failed_again(uidvalidity, uid)]
        return done + skipped + gone, [uid for uid in failed if uid not in skipped], False

    @staticmethod
    def _fetch(client: IMAPClient, chunk: list[int]) -> tuple[dict[int, bytes], list[int]]:
        """The bodies of `chunk` by UID, and the UIDs the server refused; a
        refused FETCH of the whole chunk is asked again one message at a time."""
        try:
            fetched = client.fetch(chunk, ["BODY.PEEK[]"])
        except IMAPClientError:
            if len(chunk) == 1:
                return {}, list(chunk)
            got, failed = {}, []
            for uid in chunk:
                one, refused = MailboxWorker._fetch(client, [uid])
                got.update(one)
                failed += refused
            return got, failed
        got = {uid: data[b"BODY[]"] for uid, data in fetched.items() if data.get(b"BODY[]") is not None}
        return got, [uid for uid in fetched if uid in chunk and uid not in got]

    @staticmethod
    def _gone(client: IMAPClient, absent: list[int]) -> list[int]:
        """Of the UIDs a FETCH did not answer, those really expunged meanwhile."""
        if not absent:
            return []
        present = set(client.search(["UID", ",".join(map(str, absent))]))
        return [uid for uid in absent if uid not in present]

    def _failed_again(self, uidvalidity: int, uid: int) -> bool:
        """Count a fetch that returned no message; True once it is time to give up on it."""
        key = (uidvalidity, uid)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] < self.max_attempts:
            return False
        log.error("imap %s: UID %d could not be fetched in %d attempts; skipped and left in the folder",
                  self.box.name, uid, self.attempts.pop(key))
        return True

    def _acknowledge(self, client: IMAPClient, uids: list[int]) -> None:
        """After the commit: \\Seen, moved or deleted, as configured."""
        if not uids:
            return
        box = self.box
        if box.after == "seen":
            client.add_flags(uids, [SEEN], silent=True)
        elif box.move_to:
            client.add_flags(uids, [SEEN], silent=True)
            if client.has_capability("MOVE"):
                client.move(uids, box.move_to)
            else:
                client.copy(uids, box.move_to)
                self._delete(client, uids)
        else:
            self._delete(client, uids)

    @staticmethod
    def _delete(client: IMAPClient, uids: list[int]) -> None:
        client.add_flags(uids, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)      # only ours, not what someone else marked
        else:
            client.expunge()

    # -- the mark, in the database -------------------------------------------------

    def _mark(self, uidvalidity: int) -> int:
        box = self.box
        with transaction(self.engine) as session:
            stored = imap_state.position(session, box.name, box.folder)
            if stored is not None and stored[0] == uidvalidity:
                return stored[1]
            if stored is not None:
                log.warning("imap %s: UIDVALIDITY of %s changed (%d -> %d): reading the folder again; "
                            "what was taken before is recognised as duplicates",
                            box.name, box.folder, stored[0], uidvalidity)
            imap_state.set_position(session, box.name, box.folder, uidvalidity, 0, datetime.now(timezone.utc))
            return 0

    def _save_mark(self, uidvalidity: int, last_uid: int) -> None:
        with transaction(self.engine) as session:
            imap_state.set_position(session, self.box.name, self.box.folder, uidvalidity, last_uid,
                                    datetime.now(timezone.utc))


def _news_while_busy(client: IMAPClient) -> bool:
    """Whether an EXISTS came with the answers to the drain's commands.
    imaplib keeps such untagged responses aside (imapclient has no call for
    them); taking them here keeps IDLE from waiting for news already told."""
    stored = getattr(getattr(client, "_imap", None), "untagged_responses", None)
    if not isinstance(stored, dict):
        return False
    news = [stored.pop(kind, None) for kind in ("EXISTS", "RECENT")]     # both taken, not just the first
    return any(news)


def _token(box: ImapConfig) -> str:
    """The access token `oauth2_token_command` prints (never logged)."""
    try:
        done = subprocess.run(shlex.split(box.oauth2_token_command), capture_output=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MailboxError(f"oauth2_token_command failed: {type(exc).__name__}") from None
    token = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0 or not token:
        raise MailboxError(f"oauth2_token_command exited {done.returncode} without a token")
    return token


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:               # noqa: BLE001 - the connection is gone either way
        try:
            client.shutdown()
        except Exception:           # noqa: BLE001
            pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
