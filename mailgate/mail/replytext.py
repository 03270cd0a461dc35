"""The visible text of a reply (SPEC §3.4): what the author wrote now,
without quoted history, our "reply above this line" marker section, or the
signature. The full body is always kept elsewhere; this is what is shown
and relayed.

The rules, in order:
1. everything from our marker line "##- … -##" on goes;
2. quoted history goes from its header on (an attribution such as "On …
   wrote:", an Outlook header block, an "Original Message" rule) — except
   when the author answered between the quotes (inline replies): then the
   header goes, the quotes and the answers stay, in their order; a header at
   the very top with nothing above it introduces what follows (a forward,
   or an inline reply) and only the header goes;
3. a ">" quote at the end, with nothing of the author's after it, goes;
4. the signature goes: "-- ", "Sent from my iPhone" and its translations, a
   closing such as "Best regards" followed only by a few short lines, and
   legal disclaimers.
"""

from __future__ import annotations

import re

from mailgate.mail import htmlquotes, quotes, signature

# ">" quotes, also with the writer's initials before them ("C> …", Supercite).
_QUOTED = re.compile(r"^\s*[A-Za-z]{0,3}>")
_QUOTE_MARKS_ONLY = re.compile(r"^[\s>|]*$")
# Invisible marks some clients put on a line of their own (Mixmax "ᐧ", zero widths).
_INVISIBLE = re.compile(r"^[\s\u1427\u200b-\u200f\u2060\ufeff]*$")
# MIME headers some clients leak at the top of the body.
_LEAKED_HEADER = re.compile(r"^(?:MIME-Version|Content-[A-Za-z-]+):", re.IGNORECASE)


def visible_text(text: str, html: str | None = None) -> str:
    """The author's own words in a message body (text, or HTML when richer)."""
    if html and (not text.strip() or htmlquotes.has_quote_structure(html)):
        text = htmlquotes.text_without_quotes(html)
    lines = [("" if _INVISIBLE.match(line) else line)
             for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = _without_leaked_headers(lines)
    marker = quotes.marker_line(lines)
    if marker is not None:
        lines = lines[:marker]
    kept = _without_history(lines)
    end = signature.signature_start(kept)
    if end is not None:
        kept = kept[:end]
    if _has_text(kept):
        kept = _without_trailing_quote(kept)
    return _tidy(kept)


def _without_history(lines: list[str]) -> list[str]:
    # Positions, not slices: a reply may hold thousands of headers.
    kept: list[str] = []
    pos = 0
    while (found := quotes.history_start(lines, pos)) is not None:
        start, length = found
        kept += lines[pos:start]
        after = start + length
        if length and not _has_text(lines, pos, start) and not _starts_with_history(lines, after):
            # A header with nothing above introduces what follows (a forward,
            # or answers between quotes): the header and the quote under it go.
            pos = _after_leading_quote(lines, after)
        elif length and _inline_answers(lines, after):
            pos = after                           # answers between the quotes
        else:
            return kept
    return kept + lines[pos:]


def _starts_with_history(lines: list[str], pos: int) -> bool:
    """A header right under a header: a trail of history, not an introduction."""
    found = quotes.history_start(lines, pos)
    return found is not None and not _has_text(lines, pos, found[0])


def _inline_answers(lines: list[str], pos: int) -> bool:
    """Does the author write between quotes after this header? A ">" quote
    must come first, then a paragraph of the author's own before any
    signature or further history."""
    first = _paragraph_at(lines, pos)
    if first is None or not _QUOTED.match(lines[first[0]]):
        return False
    rest = first[1]
    history = quotes.history_start(lines, rest)
    limit = history[0] if history else len(lines)
    sign = signature.signature_start(lines, rest, limit, seen_text=True)
    limit = sign if sign is not None else limit
    paragraph = _paragraph_at(lines, rest)
    while paragraph is not None and paragraph[0] < limit:
        if not _QUOTED.match(lines[paragraph[0]]):
            return True
        paragraph = _paragraph_at(lines, paragraph[1])
    return False


def _after_leading_quote(lines: list[str], pos: int) -> int:
    """Past the ">" paragraphs right at `pos`, unless nothing else follows them."""
    paragraph = _paragraph_at(lines, pos)
    skipped = pos
    while paragraph is not None and _QUOTED.match(lines[paragraph[0]]):
        skipped = paragraph[1]
        paragraph = _paragraph_at(lines, skipped)
    return skipped if paragraph is not None else pos


def _paragraph_at(lines: list[str], pos: int) -> tuple[int, int] | None:
    """(start, end) of the first run of non-blank lines from `pos`."""
    start = pos
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines):
        return None
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    return start, end


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    found, pos = [], 0
    while (paragraph := _paragraph_at(lines, pos)) is not None:
        found.append(paragraph)
        pos = paragraph[1]
    return found


def _without_trailing_quote(lines: list[str]) -> list[str]:
    """Drop the ">" quotes after the author's last paragraph. A paragraph that
    starts with a quoted line is a quote, whatever clients did to its wrapping;
    so is one whose only own line introduces it ("X skrifaði:" in a language
    we do not know, right above the quote)."""
    own = [end for start, end in _paragraphs(lines) if not _quote_paragraph(lines, start, end)]
    return lines[:own[-1]] if own else lines


def _quote_paragraph(lines: list[str], start: int, end: int) -> bool:
    if _QUOTED.match(lines[start]):
        return True
    return (end - start > 1 and lines[start].rstrip().endswith((":", "："))
            and all(_QUOTED.match(lines[n]) for n in range(start + 1, end)))


def _without_leaked_headers(lines: list[str]) -> list[str]:
    n = 0
    while n < len(lines) and _LEAKED_HEADER.match(lines[n]):
        n += 1
    return lines[n:] if n and n < len(lines) and not lines[n].strip() else lines


def _has_text(lines: list[str], start: int = 0, end: int | None = None) -> bool:
    return any(lines[n].strip() and not _QUOTED.match(lines[n])
               for n in range(start, len(lines) if end is None else end))


def _tidy(lines: list[str]) -> str:
    if all(_QUOTE_MARKS_ONLY.match(line) for line in lines):
        return ""                 # only the empty shells of quotes were left
    return "\n".join(line.rstrip() for line in lines).strip("\n")
