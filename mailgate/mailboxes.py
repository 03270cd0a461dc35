"""IMAP mailboxes: the [[imap]] tables of the config (SPEC §3.1), validated
into frozen dataclasses. A password comes from the config, from an
environment variable (`password_env`), or an OAuth2 access token from a
command (`oauth2_token_command`, for Gmail and Microsoft 365); none of them
is ever logged."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from mailgate.directory import QueueConfig, tables
from mailgate.errors import ConfigError

TLS = ("ssl", "starttls", "none")
MODES = ("idle", "poll")


@dataclass(frozen=True)
class ImapConfig:
    name: str
    host: str
    user: str
    port: int = 0                      # 0: 993 with tls = "ssl", else 143
    tls: str = "ssl"
    password: str = field(default="", repr=False)
    password_env: str = ""             # the environment variable holding the password
    oauth2_token_command: str = field(default="", repr=False)   # prints an OAuth2 access token (XOAUTH2)
    folder: str = "INBOX"
    after: str = "seen"                # "seen", "move:<folder>" or "delete"
    queue: str = ""                    # mail naming none of our addresses goes to this queue
    mode: str = "idle"                 # "idle" (when the server can) or "poll"
    poll_seconds: int = 60
    ca_file: str = ""                  # trust this CA (a server with its own certificate)

    @property
    def server_port(self) -> int:
        return self.port or (993 if self.tls == "ssl" else 143)

    @property
    def move_to(self) -> str | None:
        return self.after.partition(":")[2] if self.after.startswith("move:") else None

    def secret(self) -> str:
        """The password, read when it is needed (an env var may change on restart)."""
        if self.password_env:
            return os.environ.get(self.password_env, "")
        return self.password


def build_mailboxes(raw: Any, queues: tuple[QueueConfig, ...]) -> tuple[ImapConfig, ...]:
    names = {queue.name for queue in queues}

    def check(where: str, box: ImapConfig) -> ImapConfig:
        if not box.host or any(c.isspace() for c in box.host):
            raise ConfigError(f"{where}.host: expected a host name")
        if not box.user:
            raise ConfigError(f"{where}.user: expected the login name")
        if box.tls not in TLS:
            raise ConfigError(f"{where}.tls: expected one of {', '.join(TLS)}")
        if box.mode not in MODES:
            raise ConfigError(f"{where}.mode: expected one of {', '.join(MODES)}")
        if not 0 <= box.port < 65536:
            raise ConfigError(f"{where}.port: expected a port number")
        if box.poll_seconds <= 0:
            raise ConfigError(f"{where}.poll_seconds: must be a positive number")
        if sum(bool(v) for v in (box.password, box.password_env, box.oauth2_token_command)) != 1:
            raise ConfigError(f"{where}: set exactly one of password, password_env, oauth2_token_command")
        try:
            shlex.split(box.oauth2_token_command)
        except ValueError as exc:
            raise ConfigError(f"{where}.oauth2_token_command: {exc}") from None
        if not box.password.isascii():
            raise ConfigError(f"{where}.password: IMAP LOGIN takes ASCII passwords only")
        if box.password_env and box.password_env not in os.environ:
            raise ConfigError(f"{where}.password_env: the environment has no {box.password_env}")
        if not (box.after in ("seen", "delete") or box.after.startswith("move:") and box.move_to):
            raise ConfigError(f'{where}.after: expected "seen", "move:<folder>" or "delete"')
        if box.queue and box.queue not in names:
            raise ConfigError(f"{where}.queue: no queue named {box.queue!r}")
        if box.ca_file and not os.path.isfile(box.ca_file):
            raise ConfigError(f"{where}.ca_file: no such file: {box.ca_file}")
        return replace(box, host=box.host.strip())

    return tuple(tables("imap", raw or [], ImapConfig, check))



