"""Visible reply text, side by side: mailgate, talon and mail-parser-reply on
the same reply corpora, scored the same way (tests/support/reply_corpora.py).

usage: make bench-replies      (a separate venv with talon and mail-parser-reply)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mailgate.mail.html import to_text  # noqa: E402
from mailgate.mail.parse import parse_mail  # noqa: E402
from mailgate.mail.replytext import visible_text  # noqa: E402
from tests.support import reply_corpora  # noqa: E402

LANGUAGES = ["en", "de", "fr", "it", "es", "nl", "pl", "sv", "da", "no", "fi", "pt", "cs", "ja", "ko", "zh"]


def bodies(case: reply_corpora.Case) -> tuple[str, str | None]:
    """The text/plain and HTML body a parser is given for a case."""
    if case.text is not None:
        return case.text, None
    if case.html is not None:
        return "", case.html
    parsed = parse_mail(case.raw, max_attachment_size=1 << 30)
    return parsed.text, parsed.html


def mailgate(case):
    return visible_text(*bodies(case))


def talon_extractor():
    import talon
    from talon import quotations
    talon.init()

    def extract(case):
        text, html = bodies(case)
        if html and not text.strip():
            return to_text(quotations.extract_from_html(html))
        return quotations.extract_from_plain(text)
    return extract


def mail_parser_reply_extractor():
    from mailparser_reply import EmailReplyParser
    parser = EmailReplyParser(languages=LANGUAGES)

    def extract(case):
        text, html = bodies(case)
        try:
            return parser.parse_reply(text=text if text.strip() else to_text(html or ""))
        except Exception:          # noqa: BLE001 - a crash counts as a miss
            return ""
    return extract


def main() -> None:
    parsers = {"mailgate": mailgate}
    for name, factory in (("talon", talon_extractor), ("mail-parser-reply", mail_parser_reply_extractor)):
        try:
            parsers[name] = factory()
        except ImportError:
            print(f"({name} is not installed: `make bench-replies` sets up an environment with it)")
    results, seconds = {}, {}
    for name, extract in parsers.items():
        started = time.perf_counter()
        results[name] = reply_corpora.score(extract)
        seconds[name] = time.perf_counter() - started
    names = list(parsers)
    print(f"\n{'corpus':32}" + "".join(f"{n:>20}" for n in names))
    totals = {n: [0, 0] for n in names}
    for corpus in reply_corpora.ALL:
        row = f"{corpus:32}"
        for n in names:
            ok, total, _ = results[n][corpus]
            totals[n][0] += ok
            totals[n][1] += total
            row += f"{f'{ok}/{total} {ok / total:4.0%}':>20}"
        print(row)
    print(f"{'all cases':32}" + "".join(f"{f'{t[0]}/{t[1]} {t[0] / t[1]:4.0%}':>20}" for t in totals.values()))
    print(f"{'seconds for all':32}" + "".join(f"{seconds[n]:>20.2f}" for n in names))


if __name__ == "__main__":
    main()
