"""Where quoted history starts in a plain-text reply: attribution lines ("On
… wrote:" in many languages, possibly wrapped over several lines), Outlook
header blocks (From:/Sent:/To:/Subject: localised), "Original Message" and
forwarded-message separators, and our own "reply above this line" marker."""

from __future__ import annotations

import re

# "##- Please type your reply above this line -##" in any language.
MARKER = re.compile(r"^\s*>?\s*##-.*-##\s*$")

# Verbs of attribution lines: "Name wrote:" and its translations.
_WROTE = (
    r"wrote|writes|schrieb|schreibt|geschrieben|a\s+écrit|a\s+ecrit|écrit|ha\s+scritto|hai\s+scritto|"
    r"scrisse|escribió|escribio|escreveu|schreef|heeft\s+geschreven|het\s+volgende\s+geschreven|skrev|"
    r"skrive|kirjoitti|napisał\(a\)|napisał|napisała|napisal|napsal\(a\)|napsal|napsala|írta|yazdı|"
    r"пишет|пише|писал|написал\(а\)|написала|написав|"
    r"написала|написал|написав|написала\(в\)|напиcал|wrote\s+on|写道|寫道|書きました|작성"
)
# The verb, then either the end ("… wrote:", Zoho's "… wrote ----") or a name
# and a colon ("… schrieb Name <a@b>:"). Checked piece by piece, not with one
# pattern, so that a long line full of colons cannot make matching explode.
_VERB = re.compile(rf"\b(?:{_WROTE})", re.IGNORECASE)
_VERB_AT_END = re.compile(rf"\b(?:{_WROTE})\s*(?:-{{2,}})?\s*$", re.IGNORECASE)
_VERB_TAIL = re.compile(r"(?:\s*(?:-{2,})?\s*[:：]?\s*(?:-{2,})?|\s+[^\n]{1,200}[:：])\s*$")
# A wrapped attribution starts on a line with a date, a time, an address or
# its opening word; "Hi," above "On … wrote:" is not part of it.
_OPENER = re.compile(
    r"^\s*(?:>\s*)*[-\s]*(?:(?:on|am|le|il|el|em|op|den|dne|dnia|in\s+data|w|в|the|"
    r"mon|tue|wed|thu|fri|sat|sun|lun|mar|mer|mié|jeu|gio|ven|vie|sam|sáb|dom|dim|mån|tis|ons|tor|"
    r"fre|lør|søn|ma|ti|ke|to|pe|la|su|пн|вт|ср|чт|пт|сб|вс)\b.{0,30}\d|\d)",
    re.IGNORECASE)
_OPENS = re.compile(rf"{_OPENER.pattern}|.*[@<]", re.IGNORECASE)
_QUOTE_PREFIX = re.compile(r"^\s*[>|]")
# Gmail, Yandex, Mail.ru and others write no verb: a date or time, the sender's
# address, and a closing colon ("2017-11-24 16:32 GMT+01:00 Name <a@b.c>:").
_TIME_OR_DATE = re.compile(r"\d{1,2}[:.]\d{2}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
# The line must also look like an attribution, not prose that ends in "wrote:":
# a date, a time, an address, or the attribution's opening word.
_ATTRIBUTION_EVIDENCE = re.compile(
    r"\d|@|<|\b(?:on|am|le|il|el|em|op|den|dne|в|w|el|il\s+giorno|in\s+data|the)\b",
    re.IGNORECASE)

# Outlook and webmail header blocks, localised field names.
_FROM = r"from|von|de|da|van|от|от\s+кого|från|fra|od|lähettäjä|feladó|kimden|发件人|寄件者|差出人|보낸\s*사람|remitente"
_SENT = (r"sent|date|gesendet|datum|envoyé|envoyé\s+le|date\s+d'envoi|inviato|data|enviado|fecha|"
         r"verzonden|отправлено|дата|skickat|sendt|wysłano|lähetetty|elküldve|gönderildi|发送时间|"
         r"日期|送信日時|날짜")
_TO = (r"to|an|à|a|para|aan|кому|till|til|do|vastaanottaja|címzett|kime|收件人|宛先|받는\s*사람|cc|kopie|"
       r"copie(?:\s+à)?|copia|cópia")
_SUBJECT = (r"subject|betreff|objet|sujet|oggetto|asunto|assunto|onderwerp|тема|ämne|emne|temat|aihe|"
            r"tárgy|konu|主题|主旨|件名|제목")
_FIELD = re.compile(
    rf"^\s*(?:>\s*)*[*_]*(?:(?P<from>{_FROM})|(?P<sent>{_SENT})|(?P<to>{_TO})|(?P<subject>{_SUBJECT}))"
    rf"[*_]*\s*[:：]", re.IGNORECASE)

# "-----Original Message-----" and friends, forwarded-message banners.
_SEPARATOR = re.compile(
    r"^\s*(?:>\s*)*[-_=*]{2,}\s*(?:original\s+message|forwarded\s+message|ursprüngliche\s+nachricht|"
    r"weitergeleitete\s+nachricht|message\s+d['’]origine|message\s+transféré|messaggio\s+originale|"
    r"messaggio\s+inoltrato|mensaje\s+original|mensaje\s+reenviado|mensagem\s+original|"
    r"mensagem\s+encaminhada|oorspronkelijk\s+bericht|doorgestuurd\s+bericht|исходное\s+сообщение|"
    r"пересылаемое\s+сообщение|пересланное\s+сообщение|ursprungligt\s+meddelande|"
    r"vidarebefordrat\s+meddelande|opprinnelig\s+melding|videresendt\s+melding|oprindelig\s+meddelelse|"
    r"wiadomość\s+oryginalna|alkuperäinen\s+viesti|původní\s+zpráva|eredeti\s+üzenet|"
    r"orijinal\s+ileti|原始邮件|原始郵件|元のメッセージ|on\s.+wrote)\s*[-_=*]*\s*$",
    re.IGNORECASE)
# "Original Message processed by …" and similar banners without rules.
_BANNER = re.compile(r"^\s*(?:original\s+message|forwarded\s+message|begin\s+forwarded\s+message)\b",
                     re.IGNORECASE)
# Outlook's line of underscores before its header block.
_RULE = re.compile(r"^\s*_{10,}\s*$")
# What may sit just above a header block and belongs with it: rules of
# "====" or "----", a "Message du : <date>" banner.
_DECORATION = re.compile(
    r"^\s*(?:[=_\-*#~]{2,}\s*|(?:message|nachricht|messaggio|mensaje|mensagem|bericht|сообщение)\b.{0,60})$",
    re.IGNORECASE)


def marker_line(lines: list[str]) -> int | None:
    return next((n for n, line in enumerate(lines) if MARKER.match(line)), None)


def history_start(lines: list[str], start: int = 0) -> tuple[int, int] | None:
    """(first line of quoted history, number of lines its header takes), or
    None. A length of 0 means all the rest is history, whatever is above."""
    first = start
    for n in range(start, len(lines)):
        line = lines[n]
        if not line.strip():
            continue
        if (_SEPARATOR.match(line) or _BANNER.match(line)
                or _RULE.match(line) and _header_block(lines, _next_content(lines, n + 1))):
            following = _next_content(lines, n + 1)
            if following < len(lines) and _header_block(lines, following):
                return n, following - n + _block_length(lines, following)
            return n, 1
        if _FIELD.match(line) and _header_block(lines, n):
            top = _with_decoration(lines, n, first)
            return top, n - top + _block_length(lines, n)
        if _lone_from(lines, n, first):
            return n, 0
        length = _attribution(lines, n)
        if length:
            return n, length
    return None


def _with_decoration(lines: list[str], n: int, first: int) -> int:
    """Move the start of a header block up over the rules and banners above it."""
    start, k = n, n - 1
    while k >= first and (not lines[k].strip() or _DECORATION.match(lines[k])):
        if lines[k].strip():
            start = k
        k -= 1
    return start


def _next_content(lines: list[str], n: int) -> int:
    while n < len(lines) and not lines[n].strip():
        n += 1
    return n


def _header_block(lines: list[str], n: int) -> bool:
    """At least a sender and one of date/recipient/subject, within a few lines
    (clients wrap long fields)."""
    seen: set[str] = set()
    for line in lines[n:n + 8]:
        field = _FIELD.match(line)
        if field:
            seen.add(field.lastgroup)
    return "from" in seen and len(seen) >= 2 or {"sent", "subject"} <= seen and len(seen) >= 3


def _lone_from(lines: list[str], n: int, first: int) -> bool:
    """"From: name <address>" as the first line of the body: a forwarded or
    quoted message with nothing written above it."""
    field = _FIELD.match(lines[n])
    return (field is not None and field.lastgroup == "from" and "@" in lines[n]
            and not lines[n].lstrip().startswith(">")
            and not any(lines[k].strip() for k in range(first, n)))


def _block_length(lines: list[str], n: int) -> int:
    """Lines of a header block from `n`: its fields and the lines clients
    wrap them onto, up to the blank line that ends it."""
    k = n
    while k < len(lines) and lines[k].strip() and (_FIELD.match(lines[k]) or k - n < 12):
        k += 1
    return max(k - n, 1)


def _attribution(lines: list[str], n: int) -> int:
    """How many lines an attribution starting at `n` takes, or 0. When one
    also starts on a later line of the same stretch, that is where it starts
    ("Am heutigen Tage" above "Am So., 1. Jan. … schrieb …:")."""
    span = _attribution_span(lines, n)
    if span > 1 and any(_OPENER.match(lines[j]) and _attribution_span(lines, j)
                        for j in range(n + 1, n + span)):
        return 0
    return span


def _attribution_span(lines: list[str], n: int) -> int:
    """Lines of an attribution opening at `n`: clients wrap it over as many as
    four lines, sometimes with a blank line inside."""
    joined, blanks, found = "", 0, 0
    for k in range(n, min(n + 6, len(lines))):
        if not lines[k].strip():
            blanks += 1
            if k == n or blanks > 1:
                break
            continue
        joined = (joined + " " + lines[k].strip()).strip()
        if len(joined) > 500 or k > n and not _OPENS.match(lines[n]):
            break
        # Cheap test first: every attribution has a colon, a "wrote" (Zoho's
        # "---- On … wrote ----"), or quoted lines under it.
        if ":" not in joined and "：" not in joined and "wrote" not in joined and "<" not in joined:
            continue
        strength = _matches(joined, lines, k)
        if strength == 2:
            return k - n + 1
        if strength and not found:
            found = k - n + 1      # weak (no verb, no colon): a later line may complete it
    return found


def _matches(joined: str, lines: list[str], last: int) -> int:
    """2: an attribution; 1: one only if nothing better follows; 0: none."""
    colon = joined.endswith((":", "："))
    if colon or _VERB_AT_END.search(joined, max(0, len(joined) - 60)):
        verb = None
        for verb in _VERB.finditer(joined, 0, 320):
            pass                  # the last verb near the start
        # "John wrote:" alone is an attribution when a quote follows it.
        if verb is not None and _VERB_TAIL.match(joined, verb.end()) and (
                _ATTRIBUTION_EVIDENCE.search(joined) or _QUOTE_PREFIX.match(_next_line(lines, last))):
            return 2
    at = joined.rfind("@")
    if at < 0 or len(joined) - at > 120:
        return 0                  # no verb: then the address must close the line
    # Without a colon, only when quoted lines follow ("2013/7/20 Sam <s@x>" then "| …").
    quoted_below = not colon and bool(_QUOTE_PREFIX.match(_next_line(lines, last)))
    if not (colon or quoted_below) or not _TIME_OR_DATE.search(joined, 0, at):
        return 0
    return 2 if colon else 1


def _next_line(lines: list[str], n: int) -> str:
    for k in range(n + 1, min(n + 4, len(lines))):
        if lines[k].strip():
            return lines[k]
    return ""
