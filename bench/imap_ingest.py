"""IMAP ingest of `mailgate serve` from a real Dovecot, each figure against
a baseline measured in the same run.

Latency under IDLE: mailgate serve with one [[imap]] mailbox (mode "idle",
after "seen", SQLite default). A second IMAP connection APPENDs the mails one
at a time; a message's latency is from the end of its APPEND to the moment
its row in `messages` is visible to a reader of the database (polled every
2 ms, read-only): the ticket is committed. Baseline: the same APPENDs with
no mailgate, watched by a plain IDLE connection of the bench; its latency is
from the end of the APPEND to the untagged EXISTS that announces the
message. That is Dovecot's own notification delay (it waits 500 ms after a
change before it tells IDLE clients), which mailgate cannot go below.
Alternated baseline, mailgate, baseline... Done twice: a stream of mails
`--gap-ms` apart (several land in one 500 ms window and are fetched
together), and `--lone-n` mails `--lone-gap-ms` apart (each notified alone).

Backlog drain: `--n` mails are APPENDed (MULTIAPPEND, timed apart) to a fresh
mailbox while mailgate is stopped; then serve starts and the clock runs
until every message is a committed ticket and the folder has no unseen
message left. Baseline: the same mails (the same bytes) sent by SMTP to a
fresh serve at concurrency 8 (common.load). Alternated IMAP, SMTP, IMAP,
SMTP... (`--pairs`), a fresh data directory and a fresh Dovecot account (so
a fresh INBOX) every time, medians reported.

mailgate on CPU 0 (taskset); the bench, Dovecot and the SMTP load generator
on CPU 1. Nothing is asserted, except that every run left one ticket per mail.

usage: python bench/imap_ingest.py [--latency-n 300] [--gap-ms 50] [--lone-n 20] [--lone-gap-ms 1000]
                                   [--n 2000] [--size 3k] [--conc 8] [--pairs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (REPO, cpu_seconds, free_port, load, make_mail, median, python, start,  # noqa: E402
                    stop, wait_for_banner)

from imapclient import IMAPClient  # noqa: E402

from tests.support.dovecot import DovecotServer  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
PASSWORD = "bench-imap"
MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


def taskset(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) > 1 and shutil.which("taskset") else []


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def message_id(mail: bytes) -> str:
    return MESSAGE_ID.search(mail.split(b"\r\n\r\n", 1)[0]).group(1).decode()


# -- Dovecot: one server, a fresh account (and so a fresh INBOX) for every run ----------

class Mailboxes:
    def __init__(self, accounts: int):
        # All accounts up front: Dovecot looks at its passwd-file at most once a
        # second, so an account added just after a login may not exist yet.
        self.unused = [f"bench{k}" for k in range(accounts)]
        self.server = DovecotServer({user: PASSWORD for user in self.unused}).start()

    def fresh_user(self) -> str:
        return self.unused.pop(0)

    def client(self, user: str) -> IMAPClient:
        connection = IMAPClient("127.0.0.1", port=self.server.port, ssl=False, timeout=60)
        connection.login(user, PASSWORD)
        return connection

    def unseen(self, user: str) -> int:
        with self.client(user) as imap:
            return imap.folder_status("INBOX", ["UNSEEN"])[b"UNSEEN"]

    def cpu(self) -> dict[int, float]:
        """CPU seconds of Dovecot's master and of each live process under it, by PID."""
        return tree_cpu(self.server.proc.pid)

    def destroy(self) -> None:
        self.server.destroy()


def tree_cpu(root: int) -> dict[int, float]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grown = bool(more)
    found = {}
    for pid in tree:
        try:
            found[pid] = cpu_seconds(pid)
        except OSError:
            pass
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """What the processes alive at the end used since `before` (the one serving
    mailgate's connection is among them)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# -- mailgate serve ----------------------------------------------------------------

class Serve:
    """A fresh `mailgate init` directory, optionally with one [[imap]] mailbox."""

    def __init__(self, imap_port: int | None = None, user: str = ""):
        self.workdir = Path(tempfile.mkdtemp(prefix="mailgate-bench-imap-"))
        subprocess.run([python(), "-m", "mailgate", "init", str(self.workdir)], check=True,
                       stdout=subprocess.DEVNULL, cwd=REPO)
        config = self.workdir / "mailgate.toml"
        if imap_port:
            with open(config, "a") as fh:
                fh.write(f'\n[[imap]]\nname = "inbox"\nhost = "127.0.0.1"\nport = {imap_port}\ntls = "none"\n'
                         f'user = "{user}"\npassword = "{PASSWORD}"\nfolder = "INBOX"\nafter = "seen"\n'
                         'mode = "idle"\n')
        self.db = self.workdir / "data" / "mailgate.db"
        self.port = free_port()
        self.started = time.perf_counter()
        self.proc = start(taskset(SERVER_CPU) + [python(), "-m", "mailgate", "-c", str(config), "serve"],
                          env={"MAILGATE_SMTP_LISTEN": f"127.0.0.1:{self.port}", "MAILGATE_LOG_LEVEL": "warning"},
                          log=self.workdir / "serve.log")
        wait_for_banner(self.port)
        self.ready = time.perf_counter()

    def reader(self) -> sqlite3.Connection | None:
        """A read-only connection to the database, once the schema is there."""
        try:
            db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, check_same_thread=False)
            db.execute("SELECT 1 FROM messages LIMIT 1")
            return db
        except sqlite3.Error:
            return None

    def tickets(self) -> int:
        db = self.reader()
        if db is None:
            return 0
        try:
            return db.execute("SELECT count(*) FROM messages WHERE action = 'new_ticket'").fetchone()[0]
        finally:
            db.close()

    def log(self) -> str:
        return (self.workdir / "serve.log").read_text(errors="replace")

    def close(self) -> None:
        stop(self.proc)
        log = self.log()
        if "Traceback" in log or " ERROR " in log:
            print(f"  serve log of {self.workdir.name} has errors:\n" + log[-3000:])
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- 1. latency under IDLE -------------------------------------------------------

def append_paced(boxes: Mailboxes, user: str, mails: list[bytes], gap: float) -> list[float]:
    """APPEND one at a time, `gap` apart; the time each APPEND completed."""
    done = []
    with boxes.client(user) as imap:
        for mail in mails:
            imap.append("INBOX", mail)
            done.append(time.perf_counter())
            time.sleep(gap)
    return done


def latency_baseline(boxes: Mailboxes, mails: list[bytes], gap: float) -> list[float]:
    """APPEND to EXISTS, seen by a plain IDLE connection (no mailgate)."""
    user = boxes.fresh_user()
    listener = boxes.client(user)
    listener.select_folder("INBOX")
    listener.idle()
    announced: dict[int, float] = {}        # sequence number -> when its EXISTS arrived
    finished = threading.Event()

    def listen():
        known = 0
        while not finished.is_set() and known < len(mails):
            for response in listener.idle_check(timeout=0.2):
                if len(response) >= 2 and response[1] == b"EXISTS":
                    now = time.perf_counter()
                    for seq in range(known + 1, response[0] + 1):
                        announced[seq] = now
                    known = max(known, response[0])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    appended = append_paced(boxes, user, mails, gap)
    thread.join(30)
    finished.set()
    thread.join()
    listener.idle_done()
    listener.logout()
    missing = len(mails) - len(announced)
    if missing:
        print(f"  baseline: {missing} APPENDs never announced by EXISTS")
    return [announced[i + 1] - t for i, t in enumerate(appended) if i + 1 in announced]


def latency_mailgate(boxes: Mailboxes, mails: list[bytes], gap: float, warmup: bytes) -> list[float]:
    """APPEND to the committed row in `messages`, mailgate idling on the folder."""
    user = boxes.fresh_user()
    # One mail before serve starts: the first SEARCH takes it, and once it is a
    # ticket the worker has logged in, drained and gone into IDLE.
    with boxes.client(user) as imap:
        imap.append("INBOX", warmup)
    serve = Serve(boxes.server.port, user)
    try:
        deadline = time.monotonic() + 60
        while serve.tickets() < 1:
            if time.monotonic() > deadline:
                raise SystemExit("mailgate did not take the warm-up mail within 60 s; its log:\n"
                                 + serve.log()[-3000:])
            time.sleep(0.05)
        time.sleep(1.0)
        db = serve.reader()
        committed: dict[str, float] = {}
        finished = threading.Event()

        def poll():
            last = 0
            while not finished.is_set():
                rows = db.execute("SELECT id, message_id FROM messages WHERE id > ? ORDER BY id", (last,)).fetchall()
                now = time.perf_counter()
                for row_id, mid in rows:
                    committed.setdefault((mid or "").strip("<>"), now)
                    last = row_id
                time.sleep(0.002)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        ids = [message_id(m) for m in mails]
        appended = append_paced(boxes, user, mails, gap)
        deadline = time.monotonic() + 60
        while not all(i in committed for i in ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        finished.set()
        thread.join()
        db.close()
        missing = sum(1 for i in ids if i not in committed)
        if missing:
            print(f"  mailgate: {missing} mails not committed within 60 s of the last APPEND")
        return [committed[i] - t for i, t in zip(ids, appended) if i in committed]
    finally:
        serve.close()


def describe_latency(name: str, runs: list[list[float]]) -> str:
    per_run = ", ".join(f"{percentile(r, 50) * 1000:.0f}/{percentile(r, 99) * 1000:.0f}" for r in runs)
    return (f"{name:22} p50 {median([percentile(r, 50) for r in runs]) * 1000:6.0f} ms"
            f"  p99 {median([percentile(r, 99) for r in runs]) * 1000:6.0f} ms"
            f"  max {median([max(r) for r in runs]) * 1000:6.0f} ms   (runs p50/p99: {per_run})")


def latency(boxes: Mailboxes, what: str, n: int, size: int, gap_ms: float, pairs: int) -> None:
    mails = [make_mail(i, size, seed=12) for i in range(n)]
    warmup = make_mail(10**6, size, seed=13)
    dovecot, ours = [], []
    for _ in range(pairs):
        dovecot.append(latency_baseline(boxes, mails, gap_ms / 1000))
        ours.append(latency_mailgate(boxes, mails, gap_ms / 1000, warmup))
    print(f"\nLatency under IDLE, {what}: {n} mails of {size // 1024} KB, APPENDed {gap_ms:g} ms apart, "
          f"{pairs} pairs (medians)")
    print("  " + describe_latency("Dovecot EXISTS (base)", dovecot))
    print("  " + describe_latency("mailgate committed", ours))
    for p in (50, 99):
        base = median([percentile(r, p) for r in dovecot])
        mine = median([percentile(r, p) for r in ours])
        print(f"  p{p}: mailgate adds {(mine - base) * 1000:.0f} ms to Dovecot's notification "
              f"({mine / base:.2f}x)")


# -- 2. backlog drain vs SMTP ------------------------------------------------------

@dataclass
class Drain:
    n: int
    startup: float          # process start to the SMTP banner
    seconds: float          # banner to done (IMAP: all committed and \Seen; SMTP: last 250)
    server_cpu: float       # mailgate's CPU seconds from the banner to done
    dovecot_cpu: float = 0.0
    append_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    @property
    def rate_from_start(self) -> float:
        return self.n / (self.startup + self.seconds)


def drain_imap(boxes: Mailboxes, mails: list[bytes]) -> Drain:
    user = boxes.fresh_user()
    began = time.perf_counter()
    with boxes.client(user) as imap:
        for first in range(0, len(mails), 200):
            imap.multiappend("INBOX", mails[first:first + 200])
        held = imap.folder_status("INBOX", ["MESSAGES", "UNSEEN"])
    appended = time.perf_counter() - began
    if held[b"MESSAGES"] != len(mails) or held[b"UNSEEN"] != len(mails):
        raise SystemExit(f"APPEND left {held} in INBOX, expected {len(mails)} unseen")
    dovecot_before = boxes.cpu()
    serve = Serve(boxes.server.port, user)
    try:
        cpu_before = cpu_seconds(serve.proc.pid)
        deadline = time.monotonic() + 600
        while serve.tickets() < len(mails):
            if time.monotonic() > deadline or serve.proc.poll() is not None:
                raise SystemExit(f"IMAP drain: {serve.tickets()} of {len(mails)} tickets after 600 s")
            time.sleep(0.02)
        while boxes.unseen(user):
            time.sleep(0.02)
        done = time.perf_counter()
        cpu = cpu_seconds(serve.proc.pid) - cpu_before
        dovecot = cpu_used(dovecot_before, boxes.cpu())
        tickets = serve.tickets()
    finally:
        serve.close()
    if tickets != len(mails):
        raise SystemExit(f"IMAP drain: {tickets} tickets for {len(mails)} mails")
    return Drain(len(mails), serve.ready - serve.started, done - serve.ready, cpu, dovecot, appended)


def drain_smtp(mails: list[bytes], concurrency: int) -> Drain:
    serve = Serve()
    try:
        result = load(serve.port, mails, concurrency, serve.proc.pid)
        tickets = serve.tickets()
    finally:
        serve.close()
    if result.errors or tickets != len(mails):
        raise SystemExit(f"SMTP: {tickets} tickets for {len(mails)} mails, errors {result.errors[:3]}")
    return Drain(len(mails), serve.ready - serve.started, result.seconds, result.server_cpu)


def backlog(boxes: Mailboxes, n: int, size: int, concurrency: int, pairs: int) -> None:
    mails = [make_mail(i, size, seed=11) for i in range(n)]
    imap, smtp = [], []
    for _ in range(pairs):
        imap.append(drain_imap(boxes, mails))
        smtp.append(drain_smtp(mails, concurrency))
        print(f"  pair {len(imap)}: IMAP {imap[-1].rate:.0f} msgs/s ({imap[-1].rate_from_start:.0f} from start), "
              f"SMTP {smtp[-1].rate:.0f} msgs/s", flush=True)
    print(f"\nBacklog drain: {n} mails of {size // 1024} KB, {pairs} pairs (medians)")
    print(f"  APPEND of the backlog (not counted): {median([d.append_seconds for d in imap]):.1f} s")
    print(f"  serve start to SMTP banner: {median([d.startup for d in imap + smtp]):.2f} s")
    print(f"  IMAP drain   {median([d.rate for d in imap]):6.0f} msgs/s from the banner "
          f"({median([d.seconds for d in imap]):.1f} s), {median([d.rate_from_start for d in imap]):.0f} "
          f"from process start; mailgate CPU {median([d.server_cpu / d.n for d in imap]) * 1e6:.0f} µs/msg, "
          f"Dovecot {median([d.dovecot_cpu / d.n for d in imap]) * 1e6:.0f} µs/msg")
    print(f"  SMTP c={concurrency}   {median([d.rate for d in smtp]):6.0f} msgs/s "
          f"({median([d.seconds for d in smtp]):.1f} s), {median([d.rate_from_start for d in smtp]):.0f} "
          f"from process start; mailgate CPU {median([d.server_cpu / d.n for d in smtp]) * 1e6:.0f} µs/msg")
    ratios = sorted(i.rate / s.rate for i, s in zip(imap, smtp))
    from_start = sorted(i.rate_from_start / s.rate_from_start for i, s in zip(imap, smtp))
    print(f"  ratio IMAP/SMTP: {median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)}); "
          f"both counted from process start {median(from_start):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-n", type=int, default=300, help="mails APPENDed one at a time (0: skip)")
    parser.add_argument("--gap-ms", type=float, default=50, help="pause after each APPEND in the latency test")
    parser.add_argument("--lone-n", type=int, default=20, help="mails APPENDed alone (0: skip)")
    parser.add_argument("--lone-gap-ms", type=float, default=1000,
                        help="pause after each of those (over Dovecot's 500 ms, so each is notified alone)")
    parser.add_argument("--n", type=int, default=2000, help="mails in the backlog (0: skip)")
    parser.add_argument("--size", default="3k")
    parser.add_argument("--conc", type=int, default=8, help="SMTP concurrency of the baseline")
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    why = DovecotServer.unavailable()
    if why:
        raise SystemExit(f"imap_ingest: {why}")
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})           # Dovecot, started below, inherits it
    size = int(args.size.rstrip("kK")) * 1024
    print(f"mailgate on CPU {SERVER_CPU}; bench, Dovecot and SMTP load generator on CPU {CLIENT_CPU}; "
          f"SQLite, synchronous=FULL; Dovecot {subprocess.run(['dovecot', '--version'], capture_output=True, text=True).stdout.split()[0]}",
          flush=True)
    began = time.monotonic()
    boxes = Mailboxes(accounts=args.pairs * 5)      # 2 + 2 latency runs and 1 drain a pair
    try:
        if args.latency_n:
            latency(boxes, "a stream", args.latency_n, size, args.gap_ms, args.pairs)
        if args.lone_n:
            latency(boxes, "one at a time", args.lone_n, size, args.lone_gap_ms, args.pairs)
        if args.n:
            backlog(boxes, args.n, size, args.conc, args.pairs)
    finally:
        boxes.destroy()
    print(f"\n{time.monotonic() - began:.0f} s in all")


if __name__ == "__main__":
    main()
