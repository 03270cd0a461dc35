"""Jinja2 templates of the notifications (SPEC §6.2), rendered for one
language, locale and time zone.

Where a template is looked up, first hit wins:

    for each language of the chain  pt_BR -> pt -> default language:
        <override folder>/<language>/<name>     (notify.templates_dir)
        <shipped templates>/<language>/<name>

so an admin overrides one file of one language and keeps every other file
shipped. Each event has three parts, `<event>.subject.txt`, `<event>.body.txt`
and `<event>.body.html`; files starting with "_" are layouts the parts extend.
Undefined variables are errors (StrictUndefined); HTML is autoescaped; a
subject is one line whatever a template or a customer's name puts in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

import babel
import babel.dates
import jinja2

PARTS = ("subject.txt", "body.txt", "body.html")
SHIPPED = Path(__file__).resolve().parents[2] / "templates"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def language_chain(language: str, default: str) -> tuple[str, ...]:
    """"pt_BR" -> ("pt_BR", "pt", "en") with "en" the default language."""
    chain = [language]
    if "_" in language:
        chain.append(language.partition("_")[0])
    chain.append(default)
    return tuple(dict.fromkeys(chain))


def one_line(text: str) -> str:
    """A header value that cannot become two header lines: every control
    character, CR and LF included, and every run of white space is one space."""
    return " ".join(_CONTROL.sub(" ", text).split())


class Templates:
    def __init__(self, default_language: str, override: str | Path | None = None,
                 shipped: Path = SHIPPED):
        self.default_language = default_language
        self.folders = tuple(Path(p) for p in (override, shipped) if p)
        self._environment = lru_cache(maxsize=64)(self._make_environment)

    # -- what exists ---------------------------------------------------------

    def languages(self) -> tuple[str, ...]:
        """Languages that have a folder, shipped or overridden."""
        found = {p.name for folder in self.folders if folder.is_dir()
                 for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
        return tuple(sorted(found))

    def has_language(self, language: str) -> bool:
        return any((folder / language).is_dir() for folder in self.folders)

    def source_of(self, language: str, name: str) -> Path | None:
        """The file a lookup of `name` for `language` finds, or None."""
        for lang in language_chain(language, self.default_language):
            for folder in self.folders:
                if (folder / lang / name).is_file():
                    return folder / lang / name
        return None

    def own_file(self, language: str, name: str) -> Path | None:
        """The file of exactly this language (no fallback), or None."""
        return next((f / language / name for f in self.folders if (f / language / name).is_file()), None)

    def template_language(self, language: str) -> str:
        """The language whose templates a mail in `language` gets: itself, its
        base language, else the default (a German customer without German
        templates gets the default language's)."""
        for lang in language_chain(language, self.default_language):
            if self.has_language(lang):
                return lang
        return self.default_language

    # -- rendering -----------------------------------------------------------

    def _make_environment(self, language: str) -> jinja2.Environment:
        paths = [str(folder / lang) for lang in language_chain(language, self.default_language)
                 for folder in self.folders]
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(paths), undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        environment.filters.update(datetime=_format_datetime, date=_format_date,
                                   duration=_format_duration)
        return environment

    def template(self, language: str, event: str, part: str) -> jinja2.Template:
        return self._environment(language).get_template(f"{event}.{part}")

    def render(self, event: str, language: str, context: Mapping[str, Any],
               zone: str | None = None) -> Rendered:
        """The three parts of `event` in `language`. Dates are shown in `zone`
        ("Europe/Rome", "+01:00" or None for UTC) and the language's locale."""
        variables = dict(context, _locale=language, _zone=zone_of(zone))
        subject, text, html = (self.template(language, event, part).render(variables) for part in PARTS)
        return Rendered(one_line(subject), text, html)


def zone_of(name: str | None) -> tzinfo:
    """A time zone from an IANA name or a fixed "+HH:MM" offset (a customer's
    Date header tells us that much)."""
    if not name:
        return timezone.utc
    match = re.fullmatch(r"([+-])(\d\d):(\d\d)", name)
    if match:
        minutes = int(match.group(2)) * 60 + int(match.group(3))
        return timezone(timedelta(minutes=minutes if match.group(1) == "+" else -minutes))
    return ZoneInfo(name)


def _locale(context) -> str:
    return context.get("_locale") or "en"


def _instant(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@jinja2.pass_context
def _format_datetime(context, value: datetime | str) -> str:
    """{{ due|datetime }}: "lunedì 23 novembre 2026 14:00 CET", the full date
    and short time in the locale's order, with the zone's short name or offset."""
    zone = context.get("_zone") or timezone.utc
    locale = babel.Locale.parse(_locale(context))
    moment = _instant(value).astimezone(zone)
    day = babel.dates.format_date(moment.date(), "full", locale=locale)
    time = babel.dates.format_time(moment, "short", tzinfo=zone, locale=locale)
    name = babel.dates.format_datetime(moment, "z", tzinfo=zone, locale=locale)
    return str(locale.datetime_formats["long"]).replace("{1}", day).replace("{0}", f"{time} {name}")


@jinja2.pass_context
def _format_date(context, value: datetime | str, format: str = "long") -> str:
    zone = context.get("_zone") or timezone.utc
    return babel.dates.format_date(_instant(value).astimezone(zone).date(), format, locale=_locale(context))


@jinja2.pass_context
def _format_duration(context, seconds: int | float | timedelta, threshold: float = 1.0) -> str:
    """{{ response_time|duration }}: "4 ore", "1 день"."""
    value = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
    return babel.dates.format_timedelta(value, locale=_locale(context), threshold=threshold)
