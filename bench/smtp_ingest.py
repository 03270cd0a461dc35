"""Durable SMTP ingest of `mailgate serve` (SQLite default) against a null
aiosmtpd sink, alternated in one run: null, mailgate, null, mailgate...

Server on CPU 0, load generator on CPU 1. For each size and concurrency it
prints msgs/s, p50/p99 latency (MAIL FROM to the 250 after DATA), server CPU
per message, and the ratios mailgate/null. Every mailgate run checks that
each 250 left a ticket and a raw file behind. Then a 20 MB mail is sent
among small ones to see what it does to their latency.

usage: python bench/smtp_ingest.py [--sizes 3k,100k] [--conc 1,8,32] [--n 2000] [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, Result, free_port, load, make_mail, median, python, start,  # noqa: E402
                    stop, wait_for_banner)

SERVER_CPU, CLIENT_CPU = 0, 1


def taskset(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) > 1 and shutil.which("taskset") else []


def run_null(messages: list[bytes], concurrency: int, slow=frozenset()) -> Result:
    port = free_port()
    proc = start(taskset(SERVER_CPU) + [python(), str(REPO / "bench" / "null_sink.py"), str(port)])
    try:
        wait_for_banner(port)
        return load(port, messages, concurrency, proc.pid, slow)
    finally:
        stop(proc)


def run_mailgate(messages: list[bytes], concurrency: int, slow=frozenset()) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="mailgate-bench-"))
    try:
        subprocess.run([python(), "-m", "mailgate", "init", str(workdir)], check=True,
                       stdout=subprocess.DEVNULL, cwd=REPO)
        port = free_port()
        proc = start(taskset(SERVER_CPU) + [python(), "-m", "mailgate", "-c", str(workdir / "mailgate.toml"), "serve"],
                     env={"MAILGATE_SMTP_LISTEN": f"127.0.0.1:{port}", "MAILGATE_LOG_LEVEL": "warning"},
                     log=workdir / "serve.log")
        try:
            wait_for_banner(port)
            result = load(port, messages, concurrency, proc.pid, slow)
        finally:
            stop(proc)
        check_durable(workdir / "data", result.sent)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_durable(data: Path, acknowledged: int) -> None:
    """Every 250 must have left its ticket and its raw file."""
    with sqlite3.connect(data / "mailgate.db") as db:
        messages = db.execute("SELECT count(*) FROM messages WHERE action = 'new_ticket'").fetchone()[0]
    raw_files = sum(1 for p in (data / "raw").rglob("*") if p.is_file() and p.parent.name != "tmp")
    if messages != acknowledged or raw_files != acknowledged:
        raise SystemExit(f"DURABILITY CHECK FAILED: {acknowledged} acknowledged, {messages} tickets, "
                         f"{raw_files} raw files")


def describe(name: str, runs: list[Result]) -> str:
    return (f"{name:9} {median([r.rate for r in runs]):8.0f} msgs/s  p50 {median([r.percentile(50) for r in runs]) * 1000:7.1f} ms"
            f"  p99 {median([r.percentile(99) for r in runs]) * 1000:7.1f} ms"
            f"  cpu {median([r.cpu_per_message_us for r in runs]):7.0f} µs/msg"
            f"  errors {sum(len(r.errors) for r in runs)}")


def compare(size: int, concurrency: int, n: int, pairs: int) -> None:
    messages = [make_mail(i, size) for i in range(n)]
    nulls, ours = [], []
    for _ in range(pairs):
        nulls.append(run_null(messages, concurrency))
        ours.append(run_mailgate(messages, concurrency))
    print(f"\n{size // 1024} KB mail, concurrency {concurrency}, {n} mails, {pairs} pairs (medians)")
    print("  " + describe("null", nulls))
    print("  " + describe("mailgate", ours))
    ratios = sorted(o.rate / z.rate for o, z in zip(ours, nulls))
    cpu = median([z.cpu_per_message_us for z in nulls]) / median([o.cpu_per_message_us for o in ours])
    p99 = median([o.percentile(99) for o in ours]) / median([z.percentile(99) for z in nulls])
    print(f"  ratio mailgate/null: throughput {median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)}),"
          f" CPU efficiency {cpu:.2f}, p99 {p99:.1f}x")
    errors = [e for r in nulls + ours for e in r.errors]
    if errors:
        print(f"  ERRORS: {errors[:5]}")


def large_among_small(n: int, big_mb: int) -> None:
    """p99 of small mails while one big mail goes through the same server."""
    small = [make_mail(i, 3 * 1024, seed=7) for i in range(n)]
    big_at = n // 10
    with_big = small[:big_at] + [make_mail(10**6, big_mb * 1024 * 1024, seed=7)] + small[big_at:]
    alone = run_mailgate(small, 8)
    mixed = run_mailgate(with_big, 8, slow={big_at})
    print(f"\n{big_mb} MB mail among {n} small ones, concurrency 8 (p99 of the small ones)")
    print(f"  without it: p99 {alone.percentile(99) * 1000:.1f} ms, max {max(alone.latencies) * 1000:.1f} ms")
    print(f"  with it:    p99 {mixed.percentile(99) * 1000:.1f} ms, max {max(mixed.latencies) * 1000:.1f} ms,"
          f" errors {len(mixed.errors)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3k,100k")
    parser.add_argument("--conc", default="1,8,32")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=20, help="size of the large mail (0: skip)")
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})
    print(f"server on CPU {SERVER_CPU}, load generator on CPU {CLIENT_CPU}; SQLite, synchronous=FULL")
    for size in args.sizes.split(","):
        for concurrency in args.conc.split(","):
            compare(int(size.rstrip("kK")) * 1024, int(concurrency), args.n, args.pairs)
    if args.big_mb:
        large_among_small(args.n, args.big_mb)


if __name__ == "__main__":
    main()
