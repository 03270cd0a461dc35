"""Text from bytes whose charset is missing, wrong or unknown, as real mail
has them (Zammad #2722, #2176, #795: "unprocessable mail" from bad charsets)."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# When a declared charset does not fit the bytes, the sender most often used
# its Windows superset or a sibling of the same script (ISO-2022-JP labels on
# Shift_JIS bytes, GB2312 labels on GBK text, Latin-1 labels on cp1252 quotes).
_SIBLINGS = {
    "iso2022_jp": ("cp932", "euc_jp"), "shift_jis": ("cp932", "euc_jp"), "euc_jp": ("cp932",),
    "gb2312": ("gb18030",), "gbk": ("gb18030",), "big5": ("big5hkscs", "cp950"),
    "euc_kr": ("cp949",), "iso8859-1": ("cp1252",), "iso8859-15": ("cp1252",),
    "koi8-r": ("cp1251", "koi8-u"), "iso8859-5": ("cp1251",), "iso8859-2": ("cp1250",),
}
_ACCEPTS_ANYTHING = {"iso8859-1", "cp1252", "iso8859-15", "cp1250", "iso8859-2"}
_SURROGATES = re.compile("[\udc80-\udcff]")
# Labels mail clients write that Python does not know under that name.
_ALIASES = {"x-unknown": None, "unknown-8bit": None, "x-user-defined": None,
            "ks_c_5601-1987": "cp949", "x-mac-cyrillic": "mac-cyrillic",
            "iso-8859-8-i": "iso-8859-8", "windows-874": "cp874", "utf8": "utf-8"}


def repair_8bit(value: str, hint: str | None = None) -> str:
    """Decode raw 8-bit bytes that the stdlib kept as surrogates in a header.
    `hint` is the charset of the body, which such senders often use there too."""
    if not _SURROGATES.search(value):
        return value
    return decode_bytes(value.encode("ascii", "surrogateescape"), None, hint=hint)


def decode_bytes(raw: bytes, charset: str | None, hint: str | None = None) -> str:
    """Best reading of `raw`: the declared charset (or a sibling) if it fits,
    else UTF-8, else the hint, else a statistical guess."""
    for candidate in _family(_codec(charset)):
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    hinted = _codec(hint)
    # A single-byte Latin charset decodes any bytes, so as a mere hint it proves
    # nothing; multi-byte and Cyrillic ones fail on the wrong bytes.
    if hinted and hinted not in _ACCEPTS_ANYTHING:
        for candidate in _family(hinted):
            try:
                return raw.decode(candidate)
            except UnicodeDecodeError:
                pass
    if len(raw) >= 16:      # shorter runs are guessed wrong more often than not
        guess = from_bytes(raw).best()
        if guess is not None:
            return str(guess)
    return raw.decode(hinted if hinted in _ACCEPTS_ANYTHING else "cp1252", "replace")


def _family(codec: str | None) -> tuple[str, ...]:
    return (codec, *_SIBLINGS.get(codec, ())) if codec else ()


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
