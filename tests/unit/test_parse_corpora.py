"""Parsing measured on real mail with expected results written by others:
Zammad's parser fixtures (sender, display name, subject, attachments by MD5).

Zammad keeps the HTML body as an attachment named "message.html"; that is
its storage convention, not an attachment the sender made, so it is left out.
The floors are what mailgate reaches today: raise them as parsing improves,
never lower them.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from mailgate.mail.parse import parse_mail
from tests.conftest import CORPORA

ZAMMAD = CORPORA / "zammad-email-parser"
FLOORS = {"from_email": 0.95, "from_display_name": 0.91, "subject": 0.95,
          "attachment_names": 0.88, "attachment_md5": 0.88}


def zammad_checks():
    cases = json.loads((ZAMMAD / "expectations.json").read_text())["cases"]
    for case in cases:
        expected = case.get("parse_expectations")
        if not expected:
            continue
        parsed = parse_mail((ZAMMAD / case["file"]).read_bytes(), max_attachment_size=1 << 30)
        if "from_email" in expected:
            yield "from_email", parsed.from_addr, (expected["from_email"] or "").lower() or None
        if "from_display_name" in expected:
            yield "from_display_name", parsed.from_name, expected["from_display_name"]
        if "subject" in expected:
            yield "subject", parsed.subject, (expected["subject"] or "").strip()
        if "attachments" in expected:
            wanted = [a for a in expected["attachments"] if a.get("filename") != "message.html"]
            yield ("attachment_names", sorted(a.filename for a in parsed.attachments),
                   sorted(a["filename"] for a in wanted))
            yield ("attachment_md5", sorted(hashlib.md5(a.payload).hexdigest() for a in parsed.attachments),
                   sorted(a["data_md5"] for a in wanted))


@pytest.mark.skipif(not ZAMMAD.is_dir(), reason=f"the shared mail corpora are not at {CORPORA}")
def test_zammad_parser_fixtures_are_parsed_as_zammad_expects():
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    for field, got, expected in zammad_checks():
        total[field] = total.get(field, 0) + 1
        right[field] = right.get(field, 0) + (got == expected)
    scores = {field: right[field] / total[field] for field in total}
    print("zammad parse scores:", {f: f"{right[f]}/{total[f]}" for f in total})
    assert set(scores) == set(FLOORS)
    for field, floor in FLOORS.items():
        assert scores[field] >= floor, f"{field}: {right[field]}/{total[field]} below the floor {floor}"
