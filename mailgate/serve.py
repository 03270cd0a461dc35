"""`mailgate serve`: the long-running process. It upgrades the database, then
runs the SMTP and LMTP listeners on one event loop, the outbox sender in a
thread of its own and the scheduled sweeps under APScheduler, until SIGTERM
or SIGINT, and finishes the mail in flight before it exits."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
from datetime import datetime, timezone
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from mailgate.app import Ingestor
from mailgate.config import Config, load_config
from mailgate.errors import ConfigError, MailgateError, StorageUnavailable
from mailgate.ingest.batching import GroupCommitter
from mailgate.ingest.smtp import IngestHandler, start_server
from mailgate.mail.addresses import OurAddresses
from mailgate.notify.sender import Sender
from mailgate.ingest.imap import MailboxWorker
from scheduler.jobs import SWEEPS
from storage.db import make_engine, upgrade

log = logging.getLogger("mailgate.serve")
SHUTDOWN_GRACE = 30.0


def serve(config: Config) -> None:
    engine = make_engine(config.database_url)
    upgrade(engine)
    ingestor = Ingestor(config, engine)
    try:
        asyncio.run(_main(config, ingestor))
    finally:
        engine.dispose()


async def _main(config: Config, ingestor: Ingestor) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reload = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    await run(config, ingestor, stop, reload=reload)


async def run(config: Config, ingestor: Ingestor, stop: asyncio.Event,
              started: Callable[[], None] | None = None, reload: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set, then finish the mail in flight. Each time
    `reload` is set (SIGHUP), read the config again."""
    committer = GroupCommitter(ingestor, workers=config.ingest.workers,
                               batch_size=config.ingest.batch_size)
    sender = Sender(config, ingestor.engine, ingestor.templates, ingestor.signer)   # checks the DKIM key
    committer.start()
    sender_stop = threading.Event()
    sender_thread = threading.Thread(target=sender.run, args=(sender_stop,), name="outbox", daemon=True)
    sender_thread.start()
    sweeps = _start_sweeps(config, committer)
    imap_stop = threading.Event()
    mailboxes = _start_mailboxes(config, committer, imap_stop)
    listeners: list[tuple[asyncio.AbstractServer, IngestHandler]] = []
    loop = asyncio.get_running_loop()
    try:
        listeners = await _start_listeners(config, committer)
        if started:
            started()
        reloading = asyncio.ensure_future(_reload_on(reload, config, committer, sender,
                                                     [handler for _, handler in listeners])) if reload else None
        await stop.wait()
        if reloading:
            reloading.cancel()
        log.info("stopping: no new connections; finishing the mail in flight")
    finally:
        for server, _ in listeners:
            server.close()
        await loop.run_in_executor(None, lambda: sweeps.shutdown(wait=True))
        imap_stop.set()             # a worker finishes the batch it is committing, then logs out
        deadline = loop.time() + SHUTDOWN_GRACE
        for worker in mailboxes:
            await loop.run_in_executor(None, worker.join, max(0.0, deadline - loop.time()))
        await _finish_in_flight(committer, [handler for _, handler in listeners])
        await loop.run_in_executor(None, committer.close)
        # The mail being handed to the relay now is finished; the rest waits
        # in the outbox for the next start.
        sender_stop.set()
        await loop.run_in_executor(None, sender_thread.join, SHUTDOWN_GRACE)
        log.info("stopped")


def _start_sweeps(config: Config, committer: GroupCommitter) -> BackgroundScheduler:
    """APScheduler runs the sweeps every scheduler.sweep_seconds, one at a
    time, with the config in force (a SIGHUP reload included)."""
    sweeps = BackgroundScheduler(timezone="UTC")
    sweeps.add_job(_sweep, "interval", args=(committer,), seconds=config.scheduler.sweep_seconds,
                   max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc))
    sweeps.start()
    return sweeps


def _start_mailboxes(config: Config, committer: GroupCommitter, stop: threading.Event) -> list[MailboxWorker]:
    """One thread per [[imap]] mailbox; each hands its mail to the ingestor
    in force (a SIGHUP reload included)."""
    workers = []
    for box in config.imap:
        queue = config.queue(box.queue) if box.queue else None
        worker = MailboxWorker(box, config.ingest, committer.ingestor.engine,
                               lambda inbounds: committer.ingestor.accept_many(inbounds), stop,
                               fallback_rcpt=queue.addresses[:1] if queue else ())
        worker.start()
        workers.append(worker)
    return workers


def _sweep(committer: GroupCommitter) -> None:
    ingestor = committer.ingestor
    for name, sweep in SWEEPS.items():
        try:
            sweep(ingestor.config, ingestor.engine, ingestor.notifier, datetime.now(timezone.utc))
        except StorageUnavailable as exc:
            log.warning("scheduler: %s; the %s sweep runs again later", exc, name)
        except Exception:             # noqa: BLE001 - the other sweeps and the next run must still happen
            log.exception("scheduler: the %s sweep failed", name)


async def _reload_on(reload: asyncio.Event, config: Config, committer: GroupCommitter, sender: Sender,
                     handlers: list[IngestHandler]) -> None:
    """SIGHUP: agents, queues, rules, templates and every other setting that
    needs no new socket or database take effect for the next mail. A config
    that does not load is logged and the running one kept."""
    loop = asyncio.get_running_loop()
    while True:
        await reload.wait()
        reload.clear()
        try:
            fresh = await loop.run_in_executor(None, load_config, config.path)
            ingestor = await loop.run_in_executor(None, Ingestor, fresh, committer.ingestor.engine)
            sender.reconfigure(fresh, ingestor.templates, ingestor.signer)
        except MailgateError as exc:
            log.error("SIGHUP: config not reloaded, the running one stays: %s", exc)
            continue
        committer.ingestor = ingestor
        for handler in handlers:
            handler.ours = ingestor.ours
        for what in ("smtp", "lmtp", "database", "data"):
            if getattr(fresh, what) != getattr(config, what):
                log.warning("SIGHUP: the [%s] section changed; that takes a restart", what)
        log.info("SIGHUP: config reloaded (%d queues, %d agents, %d rules)", len(fresh.queues),
                 len(fresh.agents), len(fresh.rules))


async def _finish_in_flight(committer: GroupCommitter, handlers: list[IngestHandler]) -> None:
    """Wait for sessions still sending data and for mail being stored: their
    senders get their reply. Sessions idle between messages are just closed."""
    deadline = asyncio.get_running_loop().time() + SHUTDOWN_GRACE
    while committer.busy() or any(handler.in_data for handler in handlers):
        if asyncio.get_running_loop().time() > deadline:
            log.warning("stopping with mail still in flight after %.0f s; its senders will "
                        "retry (nothing unacknowledged is kept as stored)", SHUTDOWN_GRACE)
            return
        await asyncio.sleep(0.02)


async def _start_listeners(config: Config, committer: GroupCommitter
                           ) -> list[tuple[asyncio.AbstractServer, IngestHandler]]:
    ours = OurAddresses.from_config(config)
    hostname = config.smtp.hostname or config.site.domain
    tls = _tls_context(config)
    listeners = []
    for protocol, listen in (("smtp", config.smtp.listen), ("lmtp", config.lmtp.listen)):
        if not listen:
            continue
        handler = IngestHandler(ours, committer.submit, protocol=protocol, hostname=hostname,
                                max_recipients=config.limits.max_recipients,
                                max_message_size=config.limits.max_message_size)
        try:
            server = await start_server(handler, listen, tls_context=tls if protocol == "smtp" else None)
        except OSError as exc:
            for started_server, _ in listeners:
                started_server.close()
            raise MailgateError(f"cannot listen on {listen} ({protocol}): {exc.strerror or exc}") from None
        listeners.append((server, handler))
        log.info("%s listening on %s", protocol.upper(), listen)
    if not listeners:
        log.warning("no listener configured (smtp.listen and lmtp.listen are empty)")
    return listeners


def _tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.smtp.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.smtp.tls_cert, config.smtp.tls_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"smtp.tls_cert: cannot load {config.smtp.tls_cert}: {exc}") from None
    return context
