"""Subjects: the ticket tag ("[#123]") and the Re:/Fwd: prefixes of many languages."""

from __future__ import annotations

import re
from functools import lru_cache

# Reply and forward prefixes seen in the wild (SPEC §3.3): English, German
# (AW, WG), Italian (R, RIF, I), French (TR), Spanish (RV), Russian (Ответ,
# Отв), Nordic (SV, VS, VB, VL), Dutch (Antw, Doorst), Polish (ODP, PD),
# Portuguese (ENC), Turkish (YNT, İLT), Czech (Odp), also "Re[2]:" counters.
_PREFIXES = (
    "re", "fwd", "fw", "aw", "wg", "r", "rif", "i", "tr", "rv", "ответ", "отв", "ha",
    "sv", "vs", "vb", "vl", "antw", "doorst", "odp", "pd", "enc", "ynt", "ilt", "i̇lt",
    "fs", "res", "réf", "ref", "wtr", "trs", "redir", "videresend", "vidarebefordra",
    "odp", "pfw", "rcv",
)
_PREFIX_RE = re.compile(
    r"^\s*(?:(?:%s)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+" % "|".join(
        sorted((re.escape(p) for p in set(_PREFIXES)), key=len, reverse=True)),
    re.IGNORECASE,
)


def strip_prefixes(subject: str) -> str:
    """The subject without leading reply/forward prefixes ("Re: AW: Fwd: x" -> "x")."""
    return _PREFIX_RE.sub("", subject).strip()


@lru_cache(maxsize=8)
def _tag_pattern(tag_format: str) -> re.Pattern[str]:
    before, _, after = tag_format.partition("{number}")
    return re.compile(re.escape(before) + r"(\d{1,12})" + re.escape(after))


def format_tag(tag_format: str, number: int) -> str:
    return tag_format.replace("{number}", str(number))


def find_tag(tag_format: str, subject: str) -> int | None:
    """The ticket number in the subject tag, or None. The last tag wins: a
    forwarded subject may carry a foreign tag before ours."""
    matches = _tag_pattern(tag_format).findall(subject)
    return int(matches[-1]) if matches else None


def remove_tag(tag_format: str, subject: str) -> str:
    return re.sub(r"\s{2,}", " ", _tag_pattern(tag_format).sub("", subject)).strip()
