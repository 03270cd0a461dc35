"""Bulk import: `mailgate ingest --mbox` (durable, SQLite) against mail-parser
parsing the same mails and nothing else, alternated in one run, both on one CPU.

The import rate is the whole command as an admin runs it (start-up and
migrations included) over the mbox; the baseline is
mailparser.parse_from_bytes over the same messages in this process.

usage: python bench/bulk_ingest.py [--n 2000] [--sizes 3k,100k] [--pairs 3]
"""

from __future__ import annotations

import argparse
import mailbox
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mailparser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_mail, median, python  # noqa: E402

CPU = 0


def parse_only(messages: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in messages:
        parsed = mailparser.parse_from_bytes(raw)
        parsed.text_plain, parsed.attachments, parsed.subject   # what the parser is asked for
    return len(messages) / (time.perf_counter() - started)


def ingest(mbox: Path, count: int) -> float:
    workdir = Path(tempfile.mkdtemp(prefix="mailgate-bulk-"))
    try:
        subprocess.run([python(), "-m", "mailgate", "init", str(workdir)], check=True,
                       stdout=subprocess.DEVNULL, cwd=REPO)
        started = time.perf_counter()
        proc = subprocess.run([python(), "-m", "mailgate", "-c", str(workdir / "mailgate.toml"),
                               "ingest", "--mbox", str(mbox)], capture_output=True, text=True, cwd=REPO)
        seconds = time.perf_counter() - started
        if proc.returncode != 0 or proc.stdout.strip() != f"{count} new_ticket":
            raise SystemExit(f"import failed: {proc.stdout} {proc.stderr}")
        return count / seconds
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--sizes", default="3k,100k")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CPU})          # the ingest command inherits it
    print(f"everything on CPU {CPU}; SQLite, synchronous=FULL; {args.n} mails per run")
    for size in args.sizes.split(","):
        size_bytes = int(size.rstrip("kK")) * 1024
        messages = [make_mail(i, size_bytes, seed=3) for i in range(args.n)]
        folder = Path(tempfile.mkdtemp(prefix="mailgate-mbox-"))
        box = mailbox.mbox(folder / "import.mbox")
        for raw in messages:
            box.add(raw)
        box.close()
        baseline, ours = [], []
        for _ in range(args.pairs):
            baseline.append(parse_only(messages))
            ours.append(ingest(folder / "import.mbox", args.n))
        shutil.rmtree(folder, ignore_errors=True)
        ratios = sorted(o / b for o, b in zip(ours, baseline))
        print(f"\n{size} mail: mail-parser alone {median(baseline):7.0f} msgs/s;"
              f" mailgate ingest --mbox {median(ours):7.0f} msgs/s")
        print(f"  ratio {median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
