"""`mailgate serve`'s listeners running inside the test process, for the few
tests that must change code under the server (e.g. to stand in for a bug)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

from mailgate.app import Ingestor
from mailgate.config import Config
from mailgate.serve import run
from storage.db import make_engine, upgrade
from tests.support.servers import free_port


class InProcessServer:
    def __init__(self, config: Config):
        self.smtp_port = free_port()
        self.config = dataclasses.replace(
            config, smtp=dataclasses.replace(config.smtp, listen=f"127.0.0.1:{self.smtp_port}"))
        self.engine = make_engine(self.config.database_url)
        upgrade(self.engine)
        self.ingestor = Ingestor(self.config, self.engine)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._loop.run_until_complete(run(self.config, self.ingestor, self._stop, self._ready.set))

    def __enter__(self) -> "InProcessServer":
        self._thread.start()
        if not self._ready.wait(20):
            raise TimeoutError("in-process server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()
        self.engine.dispose()
