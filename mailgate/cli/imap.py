"""`mailgate imap check`."""

from __future__ import annotations

import click

from mailgate.cli import Context, cli, echo_json, pass_context
from mailgate.errors import MailgateError


@cli.group("imap")
def imap_group() -> None:
    """The IMAP mailboxes `mailgate serve` fetches from ([[imap]] in the config)."""


@imap_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per mailbox.")
@pass_context
def imap_check(ctx: Context, as_json: bool) -> None:
    """Log in to each mailbox and report what the server can do (IDLE, MOVE,
    UIDPLUS) and how many messages wait in the folder. Exits 1 if any fails."""
    from mailgate.ingest.imap import CONNECTION_ERRORS, MailboxError, check

    boxes = ctx.config.imap
    if not boxes:
        raise MailgateError("no [[imap]] mailbox in the config")
    failed = 0
    for box in boxes:
        where = f"{box.name}: {box.user}@{box.host}:{box.server_port} ({box.tls}) {box.folder}"
        try:
            status = check(box)
        except (MailboxError, *CONNECTION_ERRORS) as exc:
            failed += 1
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if as_json:
                echo_json({"mailbox": box.name, "ok": False, "error": error})
            else:
                click.echo(f"{where}: FAILED: {error}")
            continue
        wanted = {name: name in status.capabilities for name in ("IDLE", "MOVE", "UIDPLUS")}
        if as_json:
            echo_json({"mailbox": box.name, "ok": True, "messages": status.messages, "unseen": status.unseen,
                       "uidvalidity": status.uidvalidity, **{k.lower(): v for k, v in wanted.items()},
                       "capabilities": list(status.capabilities)})
        else:
            click.echo(f"{where}: OK, {status.messages} messages, {status.unseen} unseen; "
                       + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in wanted.items()))
    if failed:
        raise click.exceptions.Exit(1)
