"""Notifier throughput: render rate, and outbox delivery into a null sink
against that sink's own receive rate, measured in the same run.

1. render: mailgate's Renderer (Jinja2 templates, Babel dates, the MIME
   mail) over N outbox entries of every customer and agent event in the five
   shipped languages, in this process: mails/s.
2. baseline: the null sink (`null_sink.py`, a stock aiosmtpd server that
   answers 250 and keeps nothing) fed the same N rendered mails by smtplib
   over one connection, as fast as it takes them: the sink's receive rate.
3. deliver: N queued entries in a fresh SQLite outbox (synchronous=FULL),
   delivered by mailgate's Sender (claim, render, SMTP over one connection
   per batch, record each outcome) into the same sink: mails/s from the
   first claim to the last entry marked sent.

Baseline and delivery alternate (`--pairs`), each on a new sink; the sink is
pinned to CPU 0 and this process to CPU 1. The ratio deliver/baseline is
the figure to read (goal: at least 0.5).

usage: .venv/bin/python bench/notify.py [--n 2000] [--pairs 3] [--batch 100]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, median, pin, python, start, stop, wait_for_banner  # noqa: E402
from mailgate.app import signer_from, templates_from  # noqa: E402
from mailgate.config import build_config  # noqa: E402
from mailgate.notify.kinds import KINDS, sample_context  # noqa: E402
from mailgate.notify.sender import Renderer, Sender  # noqa: E402
from storage import outbox  # noqa: E402
from storage.db import make_engine, transaction, upgrade  # noqa: E402

LANGUAGES = ("en", "it", "es", "fr", "ru")
SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"


def config_for(data_dir: Path, relay_port: int, batch: int):
    return build_config({
        "site": {"domain": "example.com", "secret_key": SECRET, "portal_url": "https://support.example.com"},
        "data": {"dir": str(data_dir)},
        "outbound": {"relay": f"127.0.0.1:{relay_port}", "batch_size": batch},
    })


def entry_values(index: int, now: datetime) -> dict:
    kind = list(KINDS)[index % len(KINDS)]
    language = LANGUAGES[index % len(LANGUAGES)]
    context = sample_context(kind, language)
    return {
        "ticket_id": None, "event": kind, "to_addr": f"customer{index}@customer.example",
        "subject": "", "language": language, "status": outbox.QUEUED, "attempts": 0,
        "next_attempt_at": now, "created_at": now,
        "message_id": f"<mg.{index}.{index}.abcdefghij@example.com>",
        "reply_to": "support+mgtoken@example.com",
        "context": {"vars": context, "mail": {
            "to_name": context["recipient"]["name"], "from_name": "Example Support",
            "from_addr": "support@example.com", "auto_submitted": KINDS[kind].auto_submitted,
            "in_reply_to": "<first@customer.example>", "references": ["<first@customer.example>"],
            "zone": "Europe/Rome"}},
    }


class Entry:
    """An outbox entry as the Renderer reads it."""

    def __init__(self, values: dict):
        self.__dict__.update(values)


def bench_render(config, n: int) -> tuple[float, list[bytes]]:
    renderer = Renderer(config, templates_from(config))
    now = datetime.now(timezone.utc)
    entries = [Entry(entry_values(i, now)) for i in range(n)]
    for entry in entries[:len(KINDS) * len(LANGUAGES)]:
        renderer.render(entry, now)                     # every template compiled once, as in serve
    started = time.perf_counter()
    mails = [renderer.render(entry, now)[0] for entry in entries]
    return n / (time.perf_counter() - started), mails


def with_sink(run):
    port = free_port()
    sink = start([python(), str(Path(__file__).with_name("null_sink.py")), str(port)])
    try:
        wait_for_banner(port)
        pin(sink.pid, 0)
        return run(port)
    finally:
        stop(sink)


def bench_baseline(mails: list[bytes]) -> float:
    def run(port: int) -> float:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            started = time.perf_counter()
            for index, raw in enumerate(mails):
                smtp.sendmail("bounces@example.com", [f"customer{index}@customer.example"], raw)
            return len(mails) / (time.perf_counter() - started)
    return with_sink(run)


def bench_deliver(n: int, batch: int) -> float:
    def run(port: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            config = config_for(Path(tmp), port, batch)
            engine = make_engine(config.database_url)
            upgrade(engine)
            now = datetime.now(timezone.utc)
            with transaction(engine) as session:
                for index in range(n):
                    outbox.add(session, **entry_values(index, now))
            sender = Sender(config, engine, templates_from(config), signer_from(config))
            for index in range(len(KINDS) * len(LANGUAGES)):     # warm, as a running serve is
                sender.renderer.render(Entry(entry_values(index, now)), now)
            started = time.perf_counter()
            sent = 0
            while sent < n:
                done = sender.send_due()
                if done.retried or done.failed or not done.claimed:
                    raise SystemExit(f"delivery went wrong: {done}")
                sent += done.sent
            elapsed = time.perf_counter() - started
            engine.dispose()
            return n / elapsed
    return with_sink(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    pin(os.getpid(), 1)
    with tempfile.TemporaryDirectory() as tmp:
        render_rate, mails = bench_render(config_for(Path(tmp), 25, args.batch), args.n)
    print(f"render   {render_rate:8.0f} mails/s  ({len(KINDS)} events x {len(LANGUAGES)} languages, "
          f"{sum(map(len, mails)) // len(mails)} bytes each)")
    baseline, deliver = [], []
    for _ in range(args.pairs):
        baseline.append(bench_baseline(mails))
        deliver.append(bench_deliver(args.n, args.batch))
    ratios = [d / b for d, b in zip(deliver, baseline)]
    print(f"null sink receive  {median(baseline):8.0f} mails/s  (runs {', '.join(f'{v:.0f}' for v in baseline)})")
    print(f"outbox delivery    {median(deliver):8.0f} mails/s  (runs {', '.join(f'{v:.0f}' for v in deliver)})")
    print(f"ratio delivery/sink: {median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
