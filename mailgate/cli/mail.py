"""`mailgate ingest` and `mailgate inspect`."""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from datetime import datetime, timezone

import click

from mailgate.cli import Context, cli, echo_json, iso, pass_context
from mailgate.domain import Inbound, Outcome
from mailgate.errors import MailgateError

PROGRESS_MIN = 5     # a progress bar only for imports longer than this


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--mbox", type=click.Path(exists=True, dir_okay=False), help="Import an mbox file.")
@click.option("--maildir", type=click.Path(exists=True, file_okay=False), help="Import a Maildir.")
@click.option("--recipient", multiple=True,
              help="Envelope recipient (default: $ORIGINAL_RECIPIENT, then Delivered-To, "
                   "X-Original-To, To/Cc).")
@click.option("--sender", help="Envelope sender, if the MTA passes it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message on stdout.")
@pass_context
def ingest(ctx: Context, files, mbox, maildir, recipient, sender, as_json) -> None:
    """Ingest mail from FILES, stdin (no FILES), an mbox or a Maildir.

    Exits 75 (EX_TEMPFAIL) when storage is unavailable, so an MTA pipe retries.
    """
    if sum(map(bool, (files, mbox, maildir))) > 1:
        raise MailgateError("give FILES, --mbox or --maildir, not several")
    if ctx.config.log.level == "info":
        # One log line per message would drown the summary and the progress bar.
        logging.getLogger("mailgate.ingest").setLevel(logging.WARNING)
    from mailgate.ingest import pipe

    count, items = _items(files, mbox, maildir)
    rcpt = tuple(recipient) or tuple(filter(None, [os.environ.get("ORIGINAL_RECIPIENT")]))
    from storage.db import upgrade
    upgrade(ctx.engine)
    tally: Counter[str] = Counter()

    def report(outcome: Outcome) -> None:
        tally[outcome.action or "temporary_failure"] += 1
        if as_json:
            echo_json(outcome.as_json())
        elif outcome.temporary_failure or outcome.action in ("quarantined", "rejected"):
            click.echo(f"{outcome.source}: {outcome.action or 'not stored'} ({outcome.reason})", err=True)

    show_bar = count is not None and count > PROGRESS_MIN and sys.stderr.isatty()
    if show_bar:
        with click.progressbar(items, length=count, label="ingesting", file=sys.stderr) as bar:
            status = pipe.run(ctx.ingestor(), bar, rcpt_tos=rcpt, mail_from=sender, report=report)
    else:
        status = pipe.run(ctx.ingestor(), items, rcpt_tos=rcpt, mail_from=sender, report=report)
    if not as_json:
        click.echo(", ".join(f"{n} {action}" for action, n in sorted(tally.items())) or "no messages")
    ctx.engine.dispose()
    sys.exit(status)


def _items(files, mbox, maildir):
    from mailgate.ingest import pipe

    if mbox:
        return pipe.from_mbox(mbox)
    if maildir:
        return pipe.from_maildir(maildir)
    if files:
        return len(files), pipe.from_files(files)
    return None, pipe.from_stdin()


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--recipient", multiple=True, help="Envelope recipient to assume.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file on stdout.")
@pass_context
def inspect(ctx: Context, files, recipient, as_json) -> None:
    """Show what would happen to each message, without writing anything."""
    ingestor = ctx.ingestor()
    use_database = _database_exists(ctx)
    for path in files:
        raw = sys.stdin.buffer.read() if path == "-" else _read(path)
        inbound = Inbound(raw=raw, source=path, received_at=datetime.now(timezone.utc),
                          rcpt_tos=tuple(recipient))
        report = _inspection_json(path, ingestor.inspect(inbound, use_database))
        if as_json:
            echo_json(report)
        else:
            _print_inspection(report)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise MailgateError(f"{path}: {exc.strerror}") from None


def _database_exists(ctx: Context) -> bool:
    """inspect never creates a database: without one it decides as if it were empty."""
    from storage.db import sqlite_path
    path = sqlite_path(ctx.engine)
    return path is None or path.exists()


def _inspection_json(source: str, inspection) -> dict:
    parsed, decision = inspection.parsed, inspection.decision
    base = {"source": source, "message_id": None, "from": None, "from_name": None, "to": [],
            "cc": [], "subject": None, "date": None, "language": None, "visible_text": None,
            "text": None, "attachments": [], "auto_submitted": None, "is_bounce": None,
            "commands": None}
    if parsed is not None:
        base.update({
            "message_id": parsed.message_id, "from": parsed.from_addr, "from_name": parsed.from_name,
            "to": list(parsed.to), "cc": list(parsed.cc), "subject": parsed.subject,
            "date": iso(parsed.date), "language": parsed.language,
            "visible_text": parsed.visible_text, "text": parsed.text,
            "auto_submitted": bool(inspection.automatic), "is_bounce": decision.action == "bounce",
            "attachments": [{"filename": a.filename, "content_type": a.content_type,
                             "size": a.size, "sha256": a.sha256} for a in parsed.attachments],
        })
    base["decision"] = {"action": decision.action, "ticket": decision.ticket,
                        "reason": decision.reason, "matched_by": decision.matched_by,
                        "status": decision.new_status, "changes": dict(decision.changes),
                        "tags": list(decision.tags)}
    base["rule_hits"] = list(decision.rule_hits)
    if "participant:agent" in decision.rule_hits:       # commands are an agent's only
        base["commands"] = [h.partition(":")[2] for h in decision.rule_hits if h.startswith("command:")]
    return base


def _print_inspection(report: dict) -> None:
    decision = report["decision"]
    click.echo(f"{report['source']}:")
    click.echo(f"  from:       {report['from_name'] or ''} <{report['from'] or '?'}>")
    click.echo(f"  subject:    {report['subject']}")
    click.echo(f"  message-id: {report['message_id']}")
    click.echo(f"  date:       {report['date']}")
    for attachment in report["attachments"]:
        click.echo(f"  attachment: {attachment['filename']} ({attachment['content_type']}, "
                   f"{attachment['size']} bytes)")
    ticket = f" #{decision['ticket']}" if decision["ticket"] else ""
    reason = f" ({decision['reason']})" if decision["reason"] else ""
    via = f" by {decision['matched_by']}" if decision["matched_by"] else ""
    click.echo(f"  decision:   {decision['action']}{ticket}{reason}{via}")
    click.echo(f"  rule hits:  {', '.join(report['rule_hits'])}")
