"""The reply corpora under ../shared/corpora as one list of cases, scored the
way corpora/README.md says (reply-visible-text/v1). Used by the visible-text
test and by bench/visible_text.py, which runs other parsers on the same cases.

A case gives its input as `text` (a text/plain body), `html` (an HTML body)
or `raw` (a whole message), and its expectation as an exact text (with lines
that may be added at the end), substrings that must or must not appear, or
both; `spaces` means whitespace is ignored when comparing (as talon does).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
JSON_CORPORA = ("crisp-email-reply-parser", "zapier-email-reply-parser",
                "willdurand-email-reply-parser", "mail-parser-reply")
ALL = (*JSON_CORPORA, "talon", "discourse-email-reply-trimmer")


@dataclass
class Case:
    corpus: str
    name: str
    text: str | None = None
    html: str | None = None
    raw: bytes | None = None
    expected: str | None = None
    tolerated_extra: list[str] = field(default_factory=list)
    must_contain: list[str] = field(default_factory=list)
    must_not_contain: list[str] = field(default_factory=list)
    non_empty: bool = False
    spaces: bool = False             # compare with all whitespace removed
    strip: bool = False              # compare with whitespace around the whole text removed


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


def _json_cases(corpus: str) -> list[Case]:
    folder = CORPORA / corpus
    document = json.loads((folder / "expectations.json").read_text())
    cases = []
    for item in document["cases"]:
        path = folder / item["file"]
        if not path.exists():
            path = CORPORA / "crisp-email-reply-parser" / item["file"]
        texts = [_read(path)]
        if "[FROM]" in texts[0]:      # the template of From-header variants
            variants = document.get("template_variants", {}).get(item["file"], {}).get("from_variants") \
                or json.loads((CORPORA / "willdurand-email-reply-parser" / "expectations.json").read_text()
                              )["template_variants"][item["file"]]["from_variants"]
            texts = [texts[0].replace("[FROM]", variant) for variant in variants]
        for n, text in enumerate(texts):
            cases.append(Case(corpus, item["file"] + (f"#{n}" if len(texts) > 1 else ""), text=text,
                              expected=item.get("expected_visible_text"),
                              tolerated_extra=item.get("tolerated_extra") or [],
                              must_contain=item.get("must_contain") or [],
                              must_not_contain=item.get("must_not_contain") or []))
    return cases


def _talon_cases() -> list[Case]:
    folder = CORPORA / "talon"
    document = json.loads((folder / "expectations.json").read_text())
    cases = []
    for item in document["cases"]:
        files = item["files"] if isinstance(item["files"], list) else [item["files"]]
        expected = item.get("expected_visible_text")
        if expected is None and not item.get("must_not_contain"):
            continue                  # signature-classifier samples: no visible text to check
        source = folder / files[0]
        case = Case("talon", files[0], expected=expected,
                    tolerated_extra=item.get("tolerated_extra") or [],
                    must_not_contain=item.get("must_not_contain") or [],
                    non_empty=bool(item.get("must_be_non_empty")),
                    spaces="whitespace-insensitive" in item.get("compare", ""))
        if source.suffix == ".html":
            case.html = _read(source)
        else:
            case.raw = source.read_bytes()
        cases.append(case)
    return cases


def _discourse_cases() -> list[Case]:
    folder = CORPORA / "discourse-email-reply-trimmer"
    document = json.loads((folder / "index.json").read_text())
    cases = []
    for item in document["cases"]:
        files = item["files"]
        if "trimmed" not in files:
            continue
        # Upstream compares after String#strip of both sides.
        cases.append(Case("discourse-email-reply-trimmer", item["case"], text=_read(folder / files["emails"]),
                          expected=_read(folder / files["trimmed"]), strip=True))
    return cases


def load(corpus: str) -> list[Case]:
    if corpus == "talon":
        return _talon_cases()
    if corpus == "discourse-email-reply-trimmer":
        return _discourse_cases()
    return _json_cases(corpus)


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def passes(case: Case, visible: str) -> bool:
    got = normalise(visible)
    if case.non_empty and not got.strip():
        return False
    if any(s not in got for s in case.must_contain) or any(s in got for s in case.must_not_contain):
        return False
    if case.expected is None:
        return True
    expected = normalise(case.expected)
    if case.strip:
        got, expected = got.strip(), expected.strip()
    if case.spaces:
        return re.sub(r"\s+", "", got) == re.sub(r"\s+", "", expected)
    if got == expected:
        return True
    # Lines a parser may keep at the end (sign-offs, "Sent from my iPhone").
    extra = got[len(expected):].strip("\n").split("\n") if got.startswith(expected) else None
    allowed = {line.strip() for line in case.tolerated_extra}
    return extra is not None and all(line.strip() in allowed or not line.strip() for line in extra)


def score(extract: Callable[[Case], str], corpora=ALL) -> dict[str, tuple[int, int, list[str]]]:
    """corpus -> (passed, total, names of the failed cases)."""
    results = {}
    for corpus in corpora:
        cases = load(corpus)
        failed = [case.name for case in cases if not passes(case, extract(case))]
        results[corpus] = (len(cases) - len(failed), len(cases), failed)
    return results
