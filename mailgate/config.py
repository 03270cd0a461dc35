"""Configuration: a TOML file plus MAILGATE_<SECTION>_<KEY> overrides, read once
into frozen, validated dataclasses that are passed to whoever needs them.

The sections and their keys are in sections.py. Every scalar key of every
section can be overridden from the environment, e.g.
``MAILGATE_SMTP_LISTEN=127.0.0.1:2526`` or ``MAILGATE_DATABASE_URL=...``. Queues
are a list of tables and live in the file only. A bad value raises ConfigError
with one line naming the key and the problem.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mailgate.directory import (AgentConfig, OrganisationConfig, QueueConfig, build_agents,
                                build_organisations, build_queues)
from mailgate.errors import ConfigError
from mailgate.mailboxes import ImapConfig, build_mailboxes
from mailgate.rules import build_rules
from mailgate.sections import (SECTIONS, ConversationConfig, DatabaseConfig, DataConfig,
                               IngestConfig, LimitsConfig, LmtpConfig, LogConfig, NotifyConfig,
                               OutboundConfig, SchedulerConfig, SiteConfig, SlaConfig, SmtpConfig)

ENV_PREFIX = "MAILGATE_"
DEFAULT_CONFIG_NAME = "mailgate.toml"


@dataclass(frozen=True)
class Config:
    site: SiteConfig
    data: DataConfig
    database: DatabaseConfig
    smtp: SmtpConfig
    lmtp: LmtpConfig
    limits: LimitsConfig
    ingest: IngestConfig
    conversation: ConversationConfig
    outbound: OutboundConfig
    notify: NotifyConfig
    sla: SlaConfig
    scheduler: SchedulerConfig
    log: LogConfig
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentConfig, ...] = ()
    organisations: tuple[OrganisationConfig, ...] = ()
    rules: tuple = ()                  # routing rules (mailgate.rules.Rule), in order
    imap: tuple[ImapConfig, ...] = ()  # mailboxes `serve` fetches from
    path: Path | None = None

    @property
    def data_dir(self) -> Path:
        return Path(self.data.dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'mailgate.db'}"

    def queue(self, name: str) -> QueueConfig | None:
        return next((q for q in self.queues if q.name == name), None)

    @property
    def trusted_authserv_ids(self) -> frozenset[str]:
        return frozenset(filter(None, (i.strip().lower() for i in
                                       self.conversation.trusted_authserv_ids.split(","))))


def load_config(path: str | os.PathLike | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file (MAILGATE_CONFIG, else ./mailgate.toml) and the env overrides."""
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get("MAILGATE_CONFIG") or DEFAULT_CONFIG_NAME)
    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (create one with `mailgate init DIR`)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return build_config(document, environ, path)


def build_config(document: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                 path: Path | None = None) -> Config:
    """Validate a parsed TOML document plus env overrides into a Config."""
    environ = {} if environ is None else environ
    unknown = set(document) - set(SECTIONS) - {"queues", "agents", "organisations", "rules", "imap"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section")
    sections = {name: _build_section(name, cls, document.get(name, {}), environ)
                for name, cls in SECTIONS.items()}
    sections["site"] = _derive_site(sections["site"])
    sections["data"] = _resolve_data_dir(sections["data"], path)
    sections["notify"] = _resolve_templates_dir(sections["notify"], path)
    queues = build_queues(document.get("queues"), sections["site"].domain)
    config = Config(**sections, queues=queues, agents=build_agents(document.get("agents"), queues),
                    organisations=build_organisations(document.get("organisations")),
                    rules=build_rules(document.get("rules"), queues),
                    imap=build_mailboxes(document.get("imap"), queues), path=path)
    _check_addresses_unique(config)
    return config


def _build_section(name: str, cls: type, table: Any, environ: Mapping[str, str]):
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: expected a table [{name}]")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            raise ConfigError(f"{name}.{key}: unknown key")
    values = {}
    for key, spec in fields.items():
        env_name = f"{ENV_PREFIX}{name}_{key}".upper()
        if env_name in environ:
            value = _from_env(env_name, environ[env_name], spec.type)
            where = env_name
        elif key in table:
            value = _from_toml(f"{name}.{key}", table[key], spec.type)
            where = f"{name}.{key}"
        else:
            continue
        check = spec.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where}: {problem}")
        values[key] = value
    instance = cls(**values)
    for key, spec in fields.items():
        check = spec.metadata.get("check")
        if key not in values and check and check(getattr(instance, key)):
            raise ConfigError(f"{name}.{key}: {check(getattr(instance, key))}")
    return instance


def _from_toml(where: str, value: Any, type_name: str):
    expected = {"str": str, "int": int, "bool": bool}[type_name]
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {_type_word(type_name)}, got {value!r}")
    return value


def _from_env(where: str, raw: str, type_name: str):
    if type_name == "int":
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {raw!r}") from None
    if type_name == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    return raw


def _type_word(type_name: str) -> str:
    return {"str": "a string", "int": "an integer", "bool": "true or false"}[type_name]


def _derive_site(site: SiteConfig) -> SiteConfig:
    return dataclasses.replace(
        site,
        noreply_address=(site.noreply_address or f"noreply@{site.domain}").lower(),
        bounce_address=(site.bounce_address or f"bounces@{site.domain}").lower(),
        portal_url=site.portal_url.rstrip("/"),
    )


def _resolve_data_dir(data: DataConfig, path: Path | None) -> DataConfig:
    directory = Path(data.dir).expanduser()
    if not directory.is_absolute() and path is not None:
        directory = path.parent / directory
    return dataclasses.replace(data, dir=str(directory.absolute()))


def _resolve_templates_dir(notify: NotifyConfig, path: Path | None) -> NotifyConfig:
    if not notify.templates_dir:
        return notify
    directory = Path(notify.templates_dir).expanduser()
    if not directory.is_absolute() and path is not None:
        directory = path.parent / directory
    if not directory.is_dir():
        raise ConfigError(f"notify.templates_dir: no such folder: {directory}")
    return dataclasses.replace(notify, templates_dir=str(directory.absolute()))


def _check_addresses_unique(config: Config) -> None:
    seen: dict[str, str] = {}
    special = {config.site.noreply_address: "site.noreply_address",
               config.site.bounce_address: "site.bounce_address"}
    for queue in config.queues:
        for address in queue.addresses:
            if address in special:
                raise ConfigError(f"queues: {address} is also {special[address]}")
            if address in seen:
                raise ConfigError(f"queues: {address} belongs to both {seen[address]!r} and {queue.name!r}")
            seen[address] = queue.name
