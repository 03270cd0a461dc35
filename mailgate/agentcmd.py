"""Mail commands of agents (SPEC §5): `#word argument` lines at the top of
an agent's text, one per line, taken out of what is relayed. Pure: the
names they may refer to (agents, queues, categories) are passed in.

A bad command is not half applied: the caller changes nothing when
`errors` is not empty, and tells the agent which commands exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailgate.directory import PRIORITIES, is_address

COMMANDS = ("#note", "#solve", "#close", "#pending", "#open", "#priority low|medium|high",
            "#assign <agent>", "#queue <name>", "#category <category>/<subcategory>", "#tag <tag>",
            "#requester <address>")
_STATUS = {"solve": "solved", "close": "closed", "pending": "pending", "open": "open"}
_LINE = re.compile(r"^#([A-Za-z][\w-]*)(?:[ \t]+(.*?))?[ \t]*$")
_TAG = re.compile(r"^[\w.-]{1,64}$")


@dataclass(frozen=True)
class Names:
    """What commands may name, from the config."""

    agents: dict[str, str]                     # lowercased name or address -> address
    queues: frozenset[str]
    categories: dict[str, frozenset[str]]      # queue -> "cat" and "cat/sub" it offers


@dataclass
class Commands:
    text: str                                  # the agent's words, commands taken out
    lines: list[str] = field(default_factory=list)    # the command lines, as written
    note: bool = False
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    queue: str | None = None
    category: str | None = None
    subcategory: str | None = None
    tags: list[str] = field(default_factory=list)
    requester: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def changes(self) -> dict[str, object]:
        """Ticket fields the commands set."""
        values = {"status": self.status, "priority": self.priority, "assignee": self.assignee,
                  "queue": self.queue, "category": self.category, "subcategory": self.subcategory}
        return {key: value for key, value in values.items() if value is not None}


def parse_commands(text: str, names: Names, queue: str) -> Commands:
    """The commands at the top of `text` (blank lines before them are
    skipped; the first other line ends them) for a ticket of `queue`."""
    lines = text.splitlines()
    found = Commands(text="")
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        match = _LINE.match(line) if line.startswith("#") else None
        if not line and not found.lines:
            index += 1
            continue
        if match is None:
            break
        found.lines.append(line)
        _apply(found, match.group(1).lower(), (match.group(2) or "").strip(), names, queue)
        index += 1
    found.text = "\n".join(lines[index:]).strip()
    return found


def _apply(found: Commands, word: str, argument: str, names: Names, queue: str) -> None:
    if word == "note":
        found.note = True
    elif word in _STATUS:
        found.status = _STATUS[word]
    elif word == "priority":
        if argument.lower() in PRIORITIES:
            found.priority = argument.lower()
        else:
            found.errors.append(f"#priority {argument}: expected low, medium or high")
    elif word == "assign":
        address = names.agents.get(argument.lower())
        if address:
            found.assignee = address
        else:
            found.errors.append(f"#assign {argument}: no agent of that name or address")
    elif word == "queue":
        if argument in names.queues:
            found.queue = argument
        else:
            found.errors.append(f"#queue {argument}: no such queue")
    elif word == "category":
        _category(found, argument, names, found.queue or queue)
    elif word == "tag":
        if _TAG.match(argument):
            found.tags.append(argument.lower())
        else:
            found.errors.append(f"#tag {argument}: a tag is one word")
    elif word == "requester":
        if is_address(argument.lower()):
            found.requester = argument.lower()
        else:
            found.errors.append(f"#requester {argument}: not a mail address")
    else:
        found.errors.append(f"unknown command #{word}")


def _category(found: Commands, argument: str, names: Names, queue: str) -> None:
    offered = names.categories.get(queue, frozenset())
    category, _, subcategory = argument.partition("/")
    if argument not in offered:
        choices = ", ".join(sorted(offered)) or "none"
        found.errors.append(f"#category {argument}: queue {queue} has no such category (it has: {choices})")
        return
    found.category, found.subcategory = category, subcategory or None
