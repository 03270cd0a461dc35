"""Routing rules (SPEC §5): named `[[rules]]` of the config that look at a
new mail's To, From, Subject or one header and set its queue, category,
priority and tags. Pure; the first rule that matches wins, and its name is
a rule hit (`rule:<name>`) that `inspect` shows."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailgate.directory import PRIORITIES, QueueConfig, category_names
from mailgate.domain import ParsedMail
from mailgate.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    name: str
    to: re.Pattern | None = None
    sender: re.Pattern | None = None
    subject: re.Pattern | None = None
    header: tuple[str, re.Pattern] | None = None      # (lowercased name, pattern)
    queue: str | None = None
    category: str | None = None                        # "cat" or "cat/sub"
    priority: str | None = None
    tags: tuple[str, ...] = ()

    def matches(self, parsed: ParsedMail, recipients: tuple[str, ...]) -> bool:
        checks = [(self.to, recipients + parsed.to + parsed.cc), (self.sender, (parsed.from_addr or "",)),
                  (self.subject, (parsed.subject,))]
        if self.header:
            checks.append((self.header[1], parsed.headers.get(self.header[0], ())))
        used = [(pattern, values) for pattern, values in checks if pattern is not None]
        return bool(used) and all(any(pattern.search(v) for v in values) for pattern, values in used)


def first_match(rules: tuple[Rule, ...], parsed: ParsedMail, recipients: tuple[str, ...]) -> Rule | None:
    return next((rule for rule in rules if rule.matches(parsed, recipients)), None)


def build_rules(raw, queues: tuple[QueueConfig, ...]) -> tuple[Rule, ...]:
    """The [[rules]] tables, checked: patterns compile, targets exist."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("rules: expected [[rules]] tables")
    by_name = {queue.name: queue for queue in queues}
    rules, names = [], set()
    for index, table in enumerate(raw):
        where = f"rules[{index}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table")
        rule = _rule(where, dict(table), by_name)
        if rule.name in names:
            raise ConfigError(f"{where}.name: duplicate name {rule.name!r}")
        names.add(rule.name)
        rules.append(rule)
    return tuple(rules)


_KEYS = {"name", "match_to", "match_from", "match_subject", "match_header", "queue", "category",
         "priority", "tags"}


def _rule(where: str, table: dict, queues: dict[str, QueueConfig]) -> Rule:
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
    name = table.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]{1,64}", name):
        raise ConfigError(f"{where}.name: expected up to 64 letters, digits, '-', '_' or '.'")
    header = None
    if "match_header" in table:
        field, sep, pattern = str(table["match_header"]).partition(":")
        if not sep or not field.strip():
            raise ConfigError(f"{where}.match_header: expected \"Header-Name: pattern\"")
        header = (field.strip().lower(), _pattern(f"{where}.match_header", pattern.strip()))
    queue = table.get("queue")
    if queue is not None and queue not in queues:
        raise ConfigError(f"{where}.queue: no queue named {queue!r}")
    category = table.get("category")
    offered = category_names(queues[queue]) if queue else frozenset().union(*map(category_names, queues.values()))
    if category is not None and category not in offered:
        raise ConfigError(f"{where}.category: {category!r} is not among the queue's categories")
    priority = table.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise ConfigError(f"{where}.priority: expected one of {', '.join(PRIORITIES)}")
    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise ConfigError(f"{where}.tags: expected a list of words")
    rule = Rule(name, to=_optional(where, table, "match_to"), sender=_optional(where, table, "match_from"),
                subject=_optional(where, table, "match_subject"), header=header, queue=queue,
                category=category, priority=priority, tags=tuple(t.lower() for t in tags))
    if not (rule.to or rule.sender or rule.subject or rule.header):
        raise ConfigError(f"{where}: give at least one of match_to, match_from, match_subject, match_header")
    return rule


def _optional(where: str, table: dict, key: str) -> re.Pattern | None:
    return _pattern(f"{where}.{key}", table[key]) if key in table else None


def _pattern(where: str, value) -> re.Pattern:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a regular expression")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"{where}: not a regular expression: {exc}") from None
