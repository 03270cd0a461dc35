"""Group commit for the SMTP/LMTP listeners.

Storing and parsing (Ingestor.prepare) run on worker threads, so the event
loop only speaks SMTP. One writer thread commits whatever prepared messages
are waiting in one transaction and then releases each session's 250: the
same durability as one transaction per message, with one commit (and one
fsync of the WAL) shared by all the sessions that arrived meanwhile.

The hand-offs are plain queues and one wake-up of the event loop per batch:
ThreadPoolExecutor.submit and a wake-up per message cost more CPU than the
commit they wrap.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mailgate.app import Ingestor
from mailgate.domain import Inbound, Outcome, Prepared

log = logging.getLogger("mailgate.ingest")

# Messages above this size are prepared on a thread of their own, so that a
# 20 MB mail being parsed never makes small ones wait behind it.
LARGE_MESSAGE = 1024 * 1024
# How long the writer waits for messages still being prepared to join a
# batch. A commit costs about as much as preparing a message, so on a busy
# server a batch of eight is far cheaper than eight batches of one; an idle
# server never waits, since nothing is being prepared.
GATHER_WAIT = 0.005


@dataclass
class _Waiter:
    """Where an outcome goes: an asyncio future on its loop."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


class GroupCommitter:
    def __init__(self, ingestor: Ingestor, *, workers: int, batch_size: int):
        self.ingestor = ingestor
        self.batch_size = batch_size
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()      # (Inbound, _Waiter) | None
        self._prepared: queue.Queue = queue.Queue()               # (Prepared, _Waiter) | None
        self._large = ThreadPoolExecutor(1, thread_name_prefix="mailgate-prepare-large")
        self._workers = [threading.Thread(target=self._prepare_loop, name=f"mailgate-prepare-{n}",
                                          daemon=True) for n in range(workers)]
        self._writer = threading.Thread(target=self._write_loop, name="mailgate-commit", daemon=True)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._preparing = 0               # small messages handed to a worker, not yet prepared

    def start(self) -> None:
        for thread in (*self._workers, self._writer):
            thread.start()

    async def submit(self, inbound: Inbound) -> Outcome:
        """Prepare and commit one message; returns once it is durable (or not)."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop=loop, future=loop.create_future())
        self._enter()
        try:
            if len(inbound.raw) > LARGE_MESSAGE:
                prepared = await loop.run_in_executor(self._large, self.ingestor.prepare, inbound)
                self._prepared.put((prepared, waiter))
            else:
                self._hand_to_worker(inbound, waiter)
            return await waiter.future
        finally:
            self._leave()

    def busy(self) -> bool:
        """Is a message being prepared or committed?"""
        return self._in_flight > 0

    def close(self) -> None:
        for _ in self._workers:
            self._inbox.put(None)
        for thread in self._workers:
            thread.join()
        self._prepared.put(None)
        self._writer.join()
        self._large.shutdown(wait=True)

    def _hand_to_worker(self, inbound: Inbound, waiter: _Waiter) -> None:
        with self._lock:
            self._preparing += 1
        self._inbox.put((inbound, waiter))

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _prepare_loop(self) -> None:
        while (item := self._inbox.get()) is not None:
            inbound, waiter = item
            try:
                prepared = self.ingestor.prepare(inbound)
            except Exception as exc:      # prepare() does not raise; a worker must never die
                log.exception("cannot prepare a message from %s", inbound.source)   # with a session waiting
                prepared = Prepared(inbound, None, unavailable=f"internal error: {type(exc).__name__}")
            with self._lock:
                self._preparing -= 1
            self._prepared.put((prepared, waiter))

    def _write_loop(self) -> None:
        while (item := self._prepared.get()) is not None:
            batch, stopping = self._gather([item])
            self._commit(batch)
            if stopping:
                break

    def _gather(self, batch: list) -> tuple[list, bool]:
        """Add what is queued, and what is still being prepared if it comes soon."""
        deadline = time.monotonic() + GATHER_WAIT
        while len(batch) < self.batch_size:
            try:
                item = self._prepared.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if not self._preparing or remaining <= 0:
                    break
                try:
                    item = self._prepared.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, batch: list[tuple[Prepared, _Waiter]]) -> None:
        try:
            outcomes = self.ingestor.commit([prepared for prepared, _ in batch])
        except BaseException as exc:      # the writer thread must survive anything
            log.exception("commit failed: %s", exc)
            outcomes = [Outcome(p.inbound.source, None, None, reason="temporary_failure: internal",
                                temporary_failure=True) for p, _ in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (_, waiter), outcome in zip(batch, outcomes):
            by_loop.setdefault(waiter.loop, []).append((waiter.future, outcome))
        for loop, results in by_loop.items():
            loop.call_soon_threadsafe(_resolve, results)   # one wake-up per batch


def _resolve(results: list[tuple[asyncio.Future, Outcome]]) -> None:
    for future, outcome in results:
        if not future.done():             # the client may have gone away meanwhile
            future.set_result(outcome)
