"""Text from bytes whose charset is missing, wrong or unknown, as real mail
has them (Zammad #2722, #2176, #795: "unprocessable mail" from bad charsets)."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_SURROGATES = re.compile("[\udc80-\udcff]")
# Labels mail clients write that Python does not know under that name.
_ALIASES = {"x-unknown": None, "unknown-8bit": None, "x-user-defined": None,
            "ks_c_5601-1987": "cp949", "x-mac-cyrillic": "mac-cyrillic",
            "iso-8859-8-i": "iso-8859-8", "windows-874": "cp874", "utf8": "utf-8"}


def repair_8bit(value: str) -> str:
    """Decode raw 8-bit bytes that the stdlib kept as surrogates in a header."""
    if not _SURROGATES.search(value):
        return value
    return decode_bytes(value.encode("ascii", "surrogateescape"), None)


def decode_bytes(raw: bytes, charset: str | None) -> str:
    """Best reading of `raw`: the declared charset if it fits, else UTF-8, else a guess."""
    codec = _codec(charset)
    if codec:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if len(raw) >= 16:
        guess = from_bytes(raw).best()
        if guess is not None:
            return str(guess)
    return raw.decode("cp1252", "replace") if codec != "latin-1" else raw.decode("latin-1")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = _ALIASES.get(label, label)
    if label is None:
        return None
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
