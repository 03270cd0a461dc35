"""The scheduled sweeps at scale: finding the due tickets among millions, and
the cost of handling each one, on SQLite and PostgreSQL.

The database gets N tickets that are not due (seeded in bulk through the
driver: executemany on SQLite, COPY on PostgreSQL; not the ORM), among them
`--due` tickets whose response clock is due (half for sla_warning, half for
sla_breach) and `--due` pending/solved tickets due for the inactivity sweep
(half a reminder, half closing). The mix of the others:

  80 %  new/open, clock running, sla_next_at in the future (a tenth already
        warned, so waiting for the breach); priorities high/medium/low
        (targets 1h/4h/1d, 24/7 queue)
   4 %  open, breached (nothing left for the sweep: sla_next_at NULL)
  10 %  pending/solved, waiting on the customer for less than a day
   6 %  closed, everything NULL

and a history of N/10 sent outbox rows and N/5 events, so that the tables
the sweeps write to are not empty.

Then ANALYZE (VACUUM ANALYZE on PostgreSQL), and for each size N and 2N
(another N not-due tickets are added in between):

1. find: storage.tickets.clocks_due() (the SLA sweep's query) and
   waiting_tickets() (the inactivity sweep's), each in a read transaction
   returning the due rows: median of 4 x `--repeat` after one warm-up (a
   find takes milliseconds, and single runs vary by 2x on a small
   machine). The baseline is the same query at N; the figure to read is
   2N/N (goal: flat, and at most 0.1 s). The query plans (EXPLAIN QUERY
   PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL), of the first batch and
   of the next one (keyset from the last row of a batch), at each size.
2. sweep: scheduler.jobs.sweep_sla() whole (the find, the rules, the clock
   and history rows, the Notifier's outbox and event rows, one commit),
   then sweep_inactivity() likewise; before each run the due tickets are
   put back as seeded and the outbox and event rows of the last run
   deleted (on PostgreSQL the three tables are vacuumed too). Median of
   `--repeat` after one warm-up (which also creates the agents' contacts,
   as the first notice does in production). The baseline is the find
   alone: (sweep - find) / due is the processing cost per due ticket,
   commit included. The sweep writes outbox rows, it does not render mail:
   the sender does that later, so rendering those rows (Renderer, as in
   notify.py) is timed apart.

The config sets scheduler.batch_size to max(1000, 2 x --due) so that one
batch, one transaction, holds every due ticket (with the default, 500, the
sweep takes them 500 at a time, a transaction each, and a batch that comes
back full makes it look for more). The queue (24/7) has two agents, one a
supervisor; a third of the tickets are assigned. PostgreSQL is a throwaway
cluster (tests.support.servers) with its default settings and fsync on;
SQLite runs as mailgate configures it (WAL, synchronous=FULL). Timings are
printed, never asserted.

usage: .venv/bin/python bench/sla_sweep.py [--tickets 1000000] [--due 1000]
           [--repeat 5] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import inspect
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from common import median  # noqa: E402
from mailgate.app import signer_from, templates_from  # noqa: E402
from mailgate.config import build_config  # noqa: E402
from mailgate.notify.enqueue import Notifier  # noqa: E402
from mailgate.notify.sender import Renderer  # noqa: E402
from scheduler.jobs import sweep_inactivity, sweep_sla  # noqa: E402
from storage import tickets as ticket_store  # noqa: E402
from storage.db import make_engine, reading, upgrade  # noqa: E402
from storage.models import Contact, Event, Message, Outbox, Ticket  # noqa: E402

SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"
HOUR = 3600.0
TARGETS = {"high": 1 * HOUR, "medium": 4 * HOUR, "low": 24 * HOUR}   # the [sla] defaults, 24/7
PRIORITIES = ("high",) * 2 + ("medium",) * 6 + ("low",) * 2
AGENTS = ("anna@example.com", "sam@example.com")
CUSTOMER = "cliente@example.org"
# The columns the seed writes; the rest keep their defaults (NULL).
COLUMNS = ("id", "subject", "status", "priority", "queue", "requester_id", "assignee", "tags", "flags",
           "created_at", "updated_at", "closed_at", "first_response_due", "next_response_due",
           "waiting_since", "reminded_at", "sla_target", "sla_since", "sla_used", "sla_notified",
           "sla_next_at")
DATES = frozenset(("created_at", "updated_at", "closed_at", "first_response_due", "next_response_due",
                   "waiting_since", "reminded_at", "sla_since", "sla_next_at"))
# What the sweeps change, put back before each run.
MUTABLE = tuple(c for c in COLUMNS if c not in ("id", "subject", "priority", "queue", "requester_id",
                                                "assignee", "tags", "created_at"))
_tickets = Ticket.__table__


def config_for(data_dir: Path, url: str, due: int):
    return build_config({
        "site": {"name": "Example Support", "domain": "example.com", "secret_key": SECRET,
                 "portal_url": "https://support.example.com"},
        "data": {"dir": str(data_dir)},
        "database": {"url": url},
        "outbound": {"relay": "127.0.0.1:1"},
        # Room for every due ticket in one batch: a full batch makes the sweep look for more.
        "scheduler": {"batch_size": max(1000, 2 * due)},
        "queues": [{"name": "support", "addresses": ["support@example.com"], "hours": "24/7"}],
        "agents": [{"name": "Anna Agent", "address": AGENTS[0], "queues": ["support"]},
                   {"name": "Sam Supervisor", "address": AGENTS[1], "queues": ["support"],
                    "role": "supervisor"}],
    })


# -- the tickets ------------------------------------------------------------------

class Seed:
    """Ticket rows as dicts of Python values, relative to one `now`."""

    def __init__(self, now: datetime, contact: int, seed: int = 1):
        self.now = now
        self.contact = contact
        self.rnd = random.Random(seed)

    def _ago(self, seconds: float) -> datetime:
        return self.now - timedelta(seconds=seconds)

    def _base(self, number: int, status: str, priority: str, started: datetime) -> dict:
        rnd = self.rnd
        created = started - timedelta(seconds=rnd.uniform(0, 2 * HOUR))
        row = dict.fromkeys(COLUMNS)
        row.update(id=number, subject=f"Problema con l'ordine {number}", status=status, priority=priority,
                   queue="support", requester_id=self.contact, tags=[], flags=[], created_at=created,
                   updated_at=started, sla_used=0.0,
                   assignee=rnd.choice(AGENTS) if rnd.random() < 1 / 3 else None)
        return row

    def _clock(self, row: dict, target: str, since: datetime, notified: str | None,
               next_at: datetime | None) -> dict:
        due = since + timedelta(seconds=TARGETS[row["priority"]])
        row.update(sla_target=target, sla_since=since, sla_notified=notified, sla_next_at=next_at,
                   first_response_due=due if target == "first" else None,
                   next_response_due=due if target == "next" else None)
        return row

    def not_due(self, number: int) -> dict:
        rnd = self.rnd
        kind = rnd.random()
        priority = rnd.choice(PRIORITIES)
        length = TARGETS[priority]
        target = "first" if rnd.random() < 0.7 else "next"
        if kind < 0.72:                 # running, the warning ahead
            since = self._ago(rnd.uniform(0, 0.79 * length))
            row = self._base(number, rnd.choice(("new", "open", "open")), priority, since)
            return self._clock(row, target, since, None, since + timedelta(seconds=0.8 * length))
        if kind < 0.80:                 # running, warned, the breach ahead
            since = self._ago(rnd.uniform(0.81 * length, 0.99 * length))
            row = self._base(number, "open", priority, since)
            return self._clock(row, target, since, "warning", since + timedelta(seconds=length))
        if kind < 0.84:                 # breached: nothing more to send
            since = self._ago(rnd.uniform(1.01 * length, 3 * length))
            row = self._base(number, "open", priority, since)
            return self._clock(row, target, since, "breach", None)
        if kind < 0.94:                 # waiting on the customer for less than a day
            waiting = self._ago(rnd.uniform(0, 0.95 * 24 * HOUR))
            row = self._base(number, "pending" if rnd.random() < 0.7 else "solved", priority, waiting)
            row["waiting_since"] = waiting
            return row
        closed = self._ago(rnd.uniform(0, 30 * 24 * HOUR))
        row = self._base(number, "closed", priority, closed)
        row["closed_at"] = closed
        return row

    def sla_due(self, number: int, breach: bool) -> dict:
        rnd = self.rnd
        priority = rnd.choice(PRIORITIES)
        length = TARGETS[priority]
        target = "first" if rnd.random() < 0.7 else "next"
        if breach:                      # warned, now late
            since = self._ago(rnd.uniform(1.01 * length, 1.5 * length))
            row = self._base(number, "open", priority, since)
            return self._clock(row, target, since, "warning", since + timedelta(seconds=length))
        since = self._ago(rnd.uniform(0.81 * length, 0.99 * length))     # past 80 %, not late
        row = self._base(number, rnd.choice(("new", "open")), priority, since)
        return self._clock(row, target, since, None, since + timedelta(seconds=0.8 * length))

    def inactivity_due(self, number: int, close: bool) -> dict:
        rnd = self.rnd
        if close:                       # two days without an answer
            waiting = self._ago(rnd.uniform(2.05 * 24 * HOUR, 4 * 24 * HOUR))
            status = "pending" if rnd.random() < 0.7 else "solved"
            row = self._base(number, status, rnd.choice(PRIORITIES), waiting)
            row["reminded_at"] = waiting + timedelta(days=1) if status == "pending" else None
        else:                           # one day: the reminder
            waiting = self._ago(rnd.uniform(1.05 * 24 * HOUR, 1.95 * 24 * HOUR))
            row = self._base(number, "pending", rnd.choice(PRIORITIES), waiting)
        row["waiting_since"] = waiting
        return row


def sqlite_text(value: datetime) -> str:
    """How SQLAlchemy stores a UTCDateTime on SQLite (checked in check_formats)."""
    return f"{value:%Y-%m-%d %H:%M:%S.%f}"


def check_formats(engine: sa.Engine) -> None:
    """The hand-made SQLite text must be what SQLAlchemy itself would store."""
    sample = datetime(2026, 11, 22, 9, 5, 7, 12, tzinfo=timezone.utc)
    process = _tickets.c.created_at.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    stored = process(sample)
    if stored != sqlite_text(sample):
        raise SystemExit(f"SQLite datetime format changed: {stored!r} != {sqlite_text(sample)!r}")


def as_tuple(row: dict, dialect: str) -> tuple:
    values = []
    for column in COLUMNS:
        value = row[column]
        if column in DATES and value is not None:
            value = sqlite_text(value) if dialect == "sqlite" else sqlite_text(value) + "+00"
        elif column in ("tags", "flags"):
            value = "[]"
        values.append(value)
    return tuple(values)


def bulk_insert(engine: sa.Engine, rows, total: int, label: str, chunk: int = 50_000) -> None:
    """Write `rows` (an iterator of dicts) through the driver, in chunks."""
    dialect = engine.dialect.name
    started = last = time.perf_counter()
    done = 0
    insert = f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    copy = f"COPY tickets ({', '.join(COLUMNS)}) FROM STDIN"
    while done < total:
        batch = [as_tuple(next(rows), dialect) for _ in range(min(chunk, total - done))]
        if dialect == "sqlite":
            with engine.begin() as connection:
                connection.exec_driver_sql(insert, batch)
        else:
            raw = engine.raw_connection()
            try:
                with raw.driver_connection.cursor() as cursor, cursor.copy(copy) as writer:
                    for values in batch:
                        writer.write_row(values)
                raw.driver_connection.commit()
            finally:
                raw.close()
        done += len(batch)
        if time.perf_counter() - last > 15 or done == total:
            last = time.perf_counter()
            print(f"  {label}: {done:,}/{total:,} rows, {done / (last - started):,.0f} rows/s", flush=True)


def seed_first(engine: sa.Engine, seed: Seed, n: int, due: int) -> tuple[dict, dict]:
    """N not-due tickets with the due ones among them; returns the due rows
    (SLA, inactivity) by ticket number."""
    total = n + 2 * due
    positions = seed.rnd.sample(range(1, total + 1), 2 * due)
    sla = {number: seed.sla_due(number, index % 2 == 1) for index, number in enumerate(positions[:due])}
    waiting = {number: seed.inactivity_due(number, index % 2 == 1)
               for index, number in enumerate(positions[due:])}

    def rows():
        for number in range(1, total + 1):
            yield sla.get(number) or waiting.get(number) or seed.not_due(number)

    started = time.perf_counter()
    bulk_insert(engine, rows(), total, "seed")
    messages = [{"ticket_id": number, "direction": "in", "visibility": "public", "author_id": seed.contact,
                 "from_address": CUSTOMER, "subject": row["subject"], "received_at": row["created_at"],
                 "message_id": f"<m{number}@example.org>", "text": "Buongiorno, non riesco a pagare.",
                 "source": "smtp", "action": "new_ticket"}
                for number, row in (*sla.items(), *waiting.items())]
    with engine.begin() as connection:
        connection.execute(Message.__table__.insert(), messages)   # the due tickets' first mails
    print(f"  seeded {total:,} tickets ({2 * due:,} due, one first mail each) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return sla, waiting


def seed_history(engine: sa.Engine, seed: Seed, tickets: int, count: int) -> None:
    """`count` sent notifications and twice as many events of earlier days, as
    a running helpdesk has: the tables the sweeps write to are not empty (on
    PostgreSQL an empty, analyzed table is planned as one, with a sequential
    scan even for a lookup by id)."""
    rnd, now = seed.rnd, seed.now
    started = time.perf_counter()
    with engine.begin() as connection:
        for first in range(0, count, 20_000):
            entries, events = [], []
            for index in range(first, min(count, first + 20_000)):
                sent = now - timedelta(seconds=rnd.uniform(60, 60 * 24 * HOUR))
                ticket = rnd.randint(1, tickets)
                entries.append({
                    "ticket_id": ticket, "event": "sla_warning", "to_addr": AGENTS[index % 2],
                    "subject": f"Problema con l'ordine {ticket}", "language": "en", "status": "sent",
                    "attempts": 1, "next_attempt_at": None, "created_at": sent, "sent_at": sent,
                    "message_id": f"<mg.{ticket}.{index}.history@example.com>", "context": {}})
                for kind in ("sla", "sla_warning"):
                    events.append({"ticket_id": ticket, "kind": kind, "audience": "agents", "recipient": None,
                                   "automatic": False, "data": {}, "status": "queued", "created_at": sent})
            connection.execute(Outbox.__table__.insert(), entries)
            connection.execute(Event.__table__.insert(), events)
    print(f"  history: {count:,} outbox rows, {2 * count:,} events in {time.perf_counter() - started:.0f} s",
          flush=True)


def seed_more(engine: sa.Engine, seed: Seed, first: int, n: int) -> None:
    started = time.perf_counter()
    bulk_insert(engine, (seed.not_due(number) for number in range(first, first + n)), n, "double")
    print(f"  added {n:,} tickets in {time.perf_counter() - started:.0f} s", flush=True)


def analyze(engine: sa.Engine) -> None:
    started = time.perf_counter()
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))")
            connection.exec_driver_sql("VACUUM ANALYZE")
    print(f"  {'ANALYZE' if engine.dialect.name == 'sqlite' else 'VACUUM ANALYZE'} "
          f"in {time.perf_counter() - started:.0f} s", flush=True)


# -- measuring --------------------------------------------------------------------

def inactivity_before(config, now: datetime) -> datetime:
    """The bound sweep_inactivity gives waiting_tickets()."""
    settings = config.scheduler
    earliest = min(settings.remind_after_days, settings.close_after_days) or settings.close_after_days
    return now if settings.business_days else now - timedelta(days=earliest)


def time_find(engine: sa.Engine, find, bound: datetime, limit: int, repeat: int) -> tuple[float, list, int]:
    """Median seconds of `find` in a read transaction (a new session each
    time, as a sweep opens one), the runs, the rows found."""
    runs, found = [], 0
    for index in range(repeat + 1):
        started = time.perf_counter()
        with reading(engine) as session:
            found = len(find(session, bound, limit))
        if index:                                   # the first warms the caches
            runs.append(time.perf_counter() - started)
    return median(runs), runs, found


@contextmanager
def statements(engine: sa.Engine):
    """Count the statements sent to the database, and keep the last SELECT."""
    seen = {"count": 0, "last": None}

    def before(conn, cursor, statement, parameters, context, executemany):
        seen["count"] += 1
        if statement.lstrip().upper().startswith("SELECT"):
            seen["last"] = (statement, parameters)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def query_plan(engine: sa.Engine, find, bound: datetime, limit: int) -> list[str]:
    """The plan of the statement `find` sends (EXPLAIN QUERY PLAN on SQLite,
    EXPLAIN ANALYZE on PostgreSQL, in a transaction rolled back)."""
    with statements(engine) as seen, reading(engine) as session:
        find(session, bound, limit)
    statement, parameters = seen["last"]
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            lines = [row[-1] for row in rows]
        else:
            rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
            lines = [row[0] for row in rows]
        connection.rollback()
    return lines


def restore(engine: sa.Engine, due_rows: dict, now: datetime) -> None:
    """Put the due tickets back as seeded; delete the outbox and event rows
    the sweeps wrote (those of `now`; the history is older)."""
    update = _tickets.update().where(_tickets.c.id == sa.bindparam("b_id"))
    with engine.begin() as connection:
        connection.execute(update, [{"b_id": number, **{c: row[c] for c in MUTABLE}}
                                    for number, row in due_rows.items()])
        for table in (Outbox.__table__, Event.__table__):
            connection.execute(table.delete().where(table.c.created_at >= now))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM tickets, outbox, events")


def counts(engine: sa.Engine, now: datetime) -> tuple[int, int]:
    """Outbox and event rows the sweeps wrote."""
    with engine.connect() as connection:
        return tuple(connection.execute(sa.select(sa.func.count()).where(table.c.created_at >= now)).scalar()
                     for table in (Outbox.__table__, Event.__table__))


def time_sweep(engine: sa.Engine, config, notifier, sweep, due_rows: dict, now: datetime,
               repeat: int) -> dict:
    """Median seconds of a whole sweep over the due rows, restored before each run."""
    restore(engine, due_rows, now)
    with statements(engine) as seen:
        done = sweep(config, engine, notifier, now)                 # warm-up, counted
    outbox_rows, event_rows = counts(engine, now)
    actions: dict[str, int] = {}
    for item in done:
        actions[item.action] = actions.get(item.action, 0) + 1
    if len(done) != len(due_rows):
        raise SystemExit(f"{sweep.__name__} handled {len(done)} tickets, {len(due_rows)} were due")
    runs = []
    for _ in range(repeat):
        restore(engine, due_rows, now)
        started = time.perf_counter()
        done = sweep(config, engine, notifier, now)
        runs.append(time.perf_counter() - started)
        if len(done) != len(due_rows):
            raise SystemExit(f"{sweep.__name__} handled {len(done)} tickets, {len(due_rows)} were due")
    return {"median": median(runs), "runs": runs, "statements": seen["count"], "outbox": outbox_rows,
            "events": event_rows, "actions": actions}


def time_render(engine: sa.Engine, config, now: datetime) -> tuple[float, int]:
    """Seconds per mail to render the outbox rows the last sweep wrote (the
    sender's work, after the sweep), templates compiled beforehand."""
    renderer = Renderer(config, templates_from(config))
    outbox = Outbox.__table__
    with engine.connect() as connection:
        entries = [Entry(row._asdict()) for row in connection.execute(
            sa.select(outbox).where(outbox.c.created_at >= now))]
    if not entries:
        return float("nan"), 0
    now = datetime.now(timezone.utc)
    for entry in entries[:20]:
        renderer.render(entry, now)
    started = time.perf_counter()
    for entry in entries:
        renderer.render(entry, now)
    return (time.perf_counter() - started) / len(entries), len(entries)


class Entry:
    """An outbox row as the Renderer reads it."""

    def __init__(self, values: dict):
        self.__dict__.update(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def runs_text(runs: list[float]) -> str:
    return ", ".join(f"{r * 1000:.1f}" for r in runs)


# -- one database ------------------------------------------------------------------

def measure(engine: sa.Engine, config, now: datetime, due_sla: dict, due_waiting: dict, repeat: int,
            plan: bool) -> dict:
    restore(engine, {**due_sla, **due_waiting}, now)    # as seeded, whatever the last sweep did
    due = len(due_sla)
    limit = config.scheduler.batch_size
    before = inactivity_before(config, now)
    find_repeat = 4 * repeat
    result = {}
    for name, find, bound in (("find sla", ticket_store.clocks_due, now),
                              ("find inactivity", ticket_store.waiting_tickets, before)):
        seconds, runs, found = time_find(engine, find, bound, limit, find_repeat)
        result[name] = seconds
        print(f"  {name:16} {ms(seconds):>10}  ({found:,} rows; median of {len(runs)}, min {min(runs) * 1000:.1f}, "
              f"max {max(runs) * 1000:.1f} ms)", flush=True)
        if found != due:
            print(f"  !! {name} found {found:,} rows, {due:,} are due", flush=True)
        if plan:
            print("    plan: " + "\n          ".join(query_plan(engine, find, bound, limit)), flush=True)
            if "after" in inspect.signature(find).parameters and due > 1:
                # The next batch's query, from after the (time, id) of the last row of a batch.
                with reading(engine) as session:
                    last = find(session, bound, due // 2)[-1]
                after = (last.sla_next_at if find is ticket_store.clocks_due else last.waiting_since, last.id)
                lines = query_plan(engine, lambda session, b, l: find(session, b, l, after), bound, limit)
                print("    next batch: " + "\n                ".join(lines), flush=True)
    notifier = Notifier(config, signer_from(config), templates_from(config))
    for name, sweep, rows, find in (("sweep sla", sweep_sla, due_sla, "find sla"),
                                    ("sweep inactivity", sweep_inactivity, due_waiting, "find inactivity")):
        timed = time_sweep(engine, config, notifier, sweep, rows, now, repeat)
        per = (timed["median"] - result[find]) / len(rows)
        result[name], result[name + " per ticket"] = timed["median"], per
        actions = ", ".join(f"{count} {action}" for action, count in sorted(timed["actions"].items()))
        print(f"  {name:16} {ms(timed['median']):>10}  (runs {runs_text(timed['runs'])} ms; {actions})",
              flush=True)
        print(f"    per due ticket {ms(per)} beyond the find; per ticket "
              f"{timed['statements'] / len(rows):.1f} statements, {timed['outbox'] / len(rows):.2f} outbox rows, "
              f"{timed['events'] / len(rows):.2f} event rows; sweep / find = "
              f"{timed['median'] / result[find]:.1f}x", flush=True)
        if sweep is sweep_sla:
            render, mails = time_render(engine, config, now)
            result["render per mail"] = render
            print(f"    rendering those {mails:,} outbox rows later (the sender): {ms(render)} a mail", flush=True)
    return result


def run_database(kind: str, tmp: Path, n: int, due: int, repeat: int) -> dict:
    server = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'sqlite' / 'mailgate.db'}"
    else:
        from tests.support.servers import PostgresServer
        server = PostgresServer(durable=True)
        server.start()
        url = server.url(server.create_database())
    try:
        return _run(kind, url, tmp, n, due, repeat)
    finally:
        if server is not None:
            server.destroy()


def _run(kind: str, url: str, tmp: Path, n: int, due: int, repeat: int) -> dict:
    config = config_for(tmp / kind, url, due)
    engine = make_engine(config.database_url)
    upgrade(engine)
    with engine.connect() as connection:
        version = connection.exec_driver_sql(
            "SELECT sqlite_version()" if kind == "sqlite" else "SHOW server_version").scalar()
    print(f"\n== {kind} {version}: {n:,} tickets not due, {due:,} due for each sweep, "
          f"batch_size {config.scheduler.batch_size}", flush=True)
    if kind == "sqlite":
        check_formats(engine)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with engine.begin() as connection:
        contact = connection.execute(Contact.__table__.insert().returning(Contact.__table__.c.id), {
            "address": CUSTOMER, "name": "Cliente", "created_at": now - timedelta(days=90)}).scalar_one()
    seed = Seed(now, contact)
    due_sla, due_waiting = seed_first(engine, seed, n, due)
    seed_history(engine, seed, n + 2 * due, max(1000, n // 10))
    analyze(engine)
    results = {}
    print(f"-- N = {n:,}", flush=True)
    results["N"] = measure(engine, config, now, due_sla, due_waiting, repeat, plan=True)
    seed_more(engine, seed, n + 2 * due + 1, n)
    analyze(engine)
    print(f"-- 2N = {2 * n:,}", flush=True)
    results["2N"] = measure(engine, config, now, due_sla, due_waiting, repeat, plan=True)
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000, help="not-due tickets (N)")
    parser.add_argument("--due", type=int, default=1000, help="due tickets, for each sweep")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if any(k not in ("sqlite", "postgresql") for k in kinds):
        parser.error("--db takes sqlite and/or postgresql")
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="mailgate-sla-") as tmp:
        for kind in kinds:
            results[kind] = run_database(kind, Path(tmp), args.tickets, args.due, args.repeat)
    n = args.tickets
    print(f"\n== summary (medians; {args.due:,} due for each sweep)")
    print(f"{'':28}" + "".join(f"{kind + ' N':>14}{'2N':>11}{'2N/N':>7}" for kind in results))
    for name in ("find sla", "find inactivity", "sweep sla", "sweep sla per ticket", "sweep inactivity",
                 "sweep inactivity per ticket", "render per mail"):
        cells = ""
        for kind, figures in results.items():
            a, b = figures["N"][name], figures["2N"][name]
            cells += f"{a * 1000:>12.2f}ms{b * 1000:>9.2f}ms{b / a:>7.2f}"
        print(f"{name:28}{cells}")
    print(f"(N = {n:,} not-due tickets; whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
