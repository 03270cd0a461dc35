"""Group commit for the SMTP/LMTP listeners.

Storing and parsing (Ingestor.prepare) run in worker threads, so the event
loop only speaks SMTP. One writer thread commits whatever prepared messages
are waiting in one transaction and then releases each session's 250: the
same durability as one transaction per message, with one commit (and one
fsync of the WAL) shared by all the sessions that arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

from mailgate.app import Ingestor, Prepared
from mailgate.domain import Inbound, Outcome

log = logging.getLogger("mailgate.ingest")

# Messages above this size are prepared on a thread of their own, so that a
# 20 MB mail being parsed never makes small ones wait behind it.
LARGE_MESSAGE = 1024 * 1024


class GroupCommitter:
    def __init__(self, ingestor: Ingestor, *, workers: int, batch_size: int):
        self.ingestor = ingestor
        self.batch_size = batch_size
        self._small = ThreadPoolExecutor(workers, thread_name_prefix="mailgate-prepare")
        self._large = ThreadPoolExecutor(1, thread_name_prefix="mailgate-prepare-large")
        self._queue: queue.Queue[tuple[Prepared, concurrent.futures.Future] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="mailgate-commit", daemon=True)
        self._in_flight = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        self._writer.start()

    async def submit(self, inbound: Inbound) -> Outcome:
        """Prepare and commit one message; returns once it is durable (or not)."""
        self._enter()
        try:
            pool = self._large if len(inbound.raw) > LARGE_MESSAGE else self._small
            prepared = await asyncio.get_running_loop().run_in_executor(
                pool, self.ingestor.prepare, inbound)
            return await asyncio.wrap_future(self._enqueue(prepared))
        finally:
            self._leave()

    def submit_blocking(self, inbound: Inbound) -> Outcome:
        """The same for callers on their own thread (IMAP workers)."""
        self._enter()
        try:
            return self._enqueue(self.ingestor.prepare(inbound)).result()
        finally:
            self._leave()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no message is being prepared or committed."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
        self._small.shutdown(wait=True)
        self._large.shutdown(wait=True)

    def _enqueue(self, prepared: Prepared) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((prepared, future))
        return future

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._idle.clear()

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Prepared, concurrent.futures.Future]]) -> None:
        try:
            outcomes = self.ingestor.commit([prepared for prepared, _ in batch])
        except BaseException as exc:      # the writer thread must survive anything
            log.exception("commit failed: %s", exc)
            outcomes = [Outcome(p.inbound.source, None, None, reason="temporary_failure: internal",
                                temporary_failure=True) for p, _ in batch]
        for (_, future), outcome in zip(batch, outcomes):
            future.set_result(outcome)
