"""Shared pieces of the benchmarks: test mail, a lean SMTP load generator,
CPU accounting and process pinning. Nothing here is imported by mailgate."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = ("Buongiorno non riesco a completare il pagamento dell'ordine potete aiutarmi grazie "
         "mille per la pazienza il codice cliente è allegato la fattura risulta sbagliata "
         "Hola tengo un problema con mi cuenta Bonjour je n'arrive pas à me connecter").split()


def make_mail(index: int, size: int, seed: int = 0) -> bytes:
    """A customer mail of about `size` bytes: text only for small sizes, text
    plus a base64 attachment for large ones (as 100 KB mail usually is)."""
    rnd = random.Random(seed * 1_000_003 + index)
    msg = EmailMessage()
    # The trace a mail from the internet carries by the time it reaches us.
    for hop in range(3):
        msg["Received"] = (f"from mx{hop}.example.org (mx{hop}.example.org [203.0.113.{hop + 10}]) "
                           f"by relay{hop}.example.net (Postfix) with ESMTPS id {rnd.randrange(16**10):010X} "
                           f"for <support@example.com>; {format_datetime(datetime.now(timezone.utc))}")
    msg["Authentication-Results"] = "mx.example.com; dkim=pass header.d=example.org; spf=pass; dmarc=pass"
    msg["DKIM-Signature"] = ("v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mail; "
                             f"bh={base64.b64encode(rnd.randbytes(32)).decode()}; b="
                             + " ".join(textwrap.wrap(base64.b64encode(rnd.randbytes(256)).decode(), 64)))
    msg["From"] = f"Cliente {index} <cliente{index}@example.org>"
    msg["To"] = "support@example.com"
    msg["Subject"] = f"Problema con l'ordine {index} ({rnd.randrange(10**6)})"
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(idstring=f"b{seed}.{index}", domain="example.org")
    text_size = max(200, min(size, 4000) - 1650)
    words, length = [], 0
    while length < text_size:
        word = rnd.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    msg.set_content(" ".join(words))
    if size > 8000:
        msg.add_attachment(rnd.randbytes(int((size - 3000) * 0.74)), maintype="application",
                           subtype="pdf", filename=f"documento-{index}.pdf")
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_banner(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(16).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no SMTP banner on port {port}")


def pin(pid: int, cpu: int) -> None:
    """Pin a process (and its threads) to one CPU, when the machine has several."""
    if os.cpu_count() and os.cpu_count() > 1:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), {cpu})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(command: list[str], env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT, cwd=REPO)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Result:
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    @property
    def cpu_per_message_us(self) -> float:
        return self.server_cpu / self.sent * 1e6 if self.sent else float("nan")


async def _smtp_worker(port: int, jobs: asyncio.Queue, result: Result, slow: set[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("connection closed")
            if line[3:4] != b"-":
                return line

    await reply()
    writer.write(b"EHLO bench.example\r\n")
    await reply()
    while True:
        try:
            index, data = jobs.get_nowait()
        except asyncio.QueueEmpty:
            break
        started = time.perf_counter()
        writer.write(b"MAIL FROM:<cliente@example.org>\r\n")
        await reply()
        writer.write(b"RCPT TO:<support@example.com>\r\n")
        await reply()
        writer.write(b"DATA\r\n")
        await reply()
        writer.write(data)
        answer = await reply()
        if answer.startswith(b"250"):
            result.sent += 1
            if index not in slow:
                result.latencies.append(time.perf_counter() - started)
        else:
            result.errors.append(answer.decode(errors="replace").strip())
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()


def dot_stuff(message: bytes) -> bytes:
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def load(port: int, messages: list[bytes], concurrency: int, server_pid: int,
         slow: set[int] = frozenset()) -> Result:
    """Send every message over `concurrency` reused connections; latency is
    MAIL FROM to the 250 after DATA. Messages in `slow` are sent but not timed."""
    result = Result()
    payloads = [dot_stuff(m) for m in messages]

    async def main():
        jobs: asyncio.Queue = asyncio.Queue()
        for item in enumerate(payloads):
            jobs.put_nowait(item)
        cpu_before = cpu_seconds(server_pid)
        started = time.perf_counter()
        await asyncio.gather(*(_smtp_worker(port, jobs, result, slow) for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
        result.server_cpu = cpu_seconds(server_pid) - cpu_before

    asyncio.run(main())
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def python() -> str:
    return sys.executable
