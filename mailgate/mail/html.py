"""HTML bodies: sanitised for storage (nh3, an allow-list sanitiser) and
rendered to text for HTML-only mail (inscriptis keeps paragraphs and lists)."""

from __future__ import annotations

import re

import nh3

# cid: keeps inline images (Content-ID) displayable from the stored attachments.
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def sanitise(html: str) -> str:
    """HTML safe to show in a browser: no scripts, styles, handlers or foreign schemes."""
    return nh3.clean(html, url_schemes=_URL_SCHEMES, link_rel="noopener noreferrer nofollow")


def to_text(html: str) -> str:
    """A readable plain-text rendering of an HTML body."""
    # Imported here: lxml is heavy, and only HTML-only mail needs it.
    from inscriptis import get_text
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    try:
        text = get_text(html, ParserConfig(css=CSS_PROFILES["strict"], display_links=False))
    except (ValueError, RecursionError):
        # Pathological markup (e.g. nesting deeper than lxml allows): fall back
        # to the sanitiser with no tags allowed, which never fails.
        text = nh3.clean(html, tags=set())
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")
