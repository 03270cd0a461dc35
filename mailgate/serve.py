"""`mailgate serve`: the long-running process. It upgrades the database, then
runs the SMTP and LMTP listeners on one event loop and the outbox sender in
a thread of its own until SIGTERM or SIGINT, and finishes the mail in
flight before it exits."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
from typing import Callable

from mailgate.app import Ingestor
from mailgate.config import Config
from mailgate.errors import ConfigError, MailgateError
from mailgate.ingest.batching import GroupCommitter
from mailgate.ingest.smtp import IngestHandler, start_server
from mailgate.mail.addresses import OurAddresses
from mailgate.notify.sender import Sender
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
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info("SIGHUP: nothing to reload yet"))
    await run(config, ingestor, stop)


async def run(config: Config, ingestor: Ingestor, stop: asyncio.Event,
              started: Callable[[], None] | None = None) -> None:
    """Serve until `stop` is set, then finish the mail in flight."""
    committer = GroupCommitter(ingestor, workers=config.ingest.workers,
                               batch_size=config.ingest.batch_size)
    sender = Sender(config, ingestor.engine, ingestor.templates, ingestor.signer)   # checks the DKIM key
    committer.start()
    sender_stop = threading.Event()
    sender_thread = threading.Thread(target=sender.run, args=(sender_stop,), name="outbox", daemon=True)
    sender_thread.start()
    listeners: list[tuple[asyncio.AbstractServer, IngestHandler]] = []
    loop = asyncio.get_running_loop()
    try:
        listeners = await _start_listeners(config, committer)
        if started:
            started()
        await stop.wait()
        log.info("stopping: no new connections; finishing the mail in flight")
    finally:
        for server, _ in listeners:
            server.close()
        await _finish_in_flight(committer, [handler for _, handler in listeners])
        await loop.run_in_executor(None, committer.close)
        # The mail being handed to the relay now is finished; the rest waits
        # in the outbox for the next start.
        sender_stop.set()
        await loop.run_in_executor(None, sender_thread.join, SHUTDOWN_GRACE)
        log.info("stopped")


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
