"""Is a message automatic (RFC 3834), and is it an out-of-office reply?
The union of the checks the helpdesks we studied make (Zammad, RT, osTicket,
FreeScout, django-helpdesk, Mailman); each fires under its own rule name."""

from __future__ import annotations

import re

from mailgate.domain import ParsedMail

_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_SYSTEM_SENDER = re.compile(
    r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|auto-?reply|notifications?)(?:[+._-].*)?$",
    re.IGNORECASE)
_OOO_SUBJECT = re.compile(
    r"\b(?:out\s+of\s+(?:the\s+)?office|automatic\s+reply|auto(?:matic)?[- ]?reply|autoreply|"
    r"abwesenheit(?:snotiz)?|automatische\s+antwort|risposta\s+automatica|fuori\s+(?:sede|ufficio)|"
    r"respuesta\s+autom[aá]tica|fuera\s+de\s+la\s+oficina|r[ée]ponse\s+automatique|absence|"
    r"автоответ|автоматический\s+ответ|не\s+в\s+офисе|в\s+отпуске)\b",
    re.IGNORECASE)


def signals(parsed: ParsedMail, mail_from: str | None, loop_names: frozenset[str]) -> list[str]:
    """Rule names of the automatic-mail signals present; empty for a person's mail.
    `loop_names` are our addresses and domain: in X-Loop or From they mean
    the mail came from us (our own notice forwarded back in)."""
    headers = parsed.headers
    found = []
    auto_submitted = _first(headers, "auto-submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        found.append("auto:auto_submitted")
    precedence = (_first(headers, "precedence") or _first(headers, "x-precedence")).lower()
    if precedence.strip() in _PRECEDENCE:
        found.append("auto:precedence")
    for name in ("x-autoreply", "x-autorespond", "x-failed-recipients"):
        if name in headers:
            found.append("auto:" + name[2:].replace("-", "_"))
    # Exchange puts "All" (or "OOF, AutoReply") on its own automatic mail; a
    # person's mail from Outlook may carry "DR" or "RN" and is not automatic.
    suppress = set(re.split(r"[\s,]+", _first(headers, "x-auto-response-suppress").lower()))
    if suppress & {"all", "oof", "autoreply"}:
        found.append("auto:auto_response_suppress")
    if "list-id" in headers or "list-unsubscribe" in headers:
        found.append("auto:list")
    if any(value.strip().lower() in loop_names for value in headers.get("x-loop", ())):
        found.append("auto:x_loop")
    return_path = _first(headers, "return-path").strip()
    if mail_from == "" or return_path == "<>":
        found.append("auto:null_sender")
    local, _, domain = (parsed.from_addr or "").partition("@")
    if local and f"{local.partition('+')[0]}@{domain}" in loop_names:
        found.append("auto:from_us")
    if local and _SYSTEM_SENDER.match(local):
        found.append("auto:system_sender")
    if "report-type=delivery-status" in _first(headers, "content-type").lower().replace(" ", "").replace('"', ""):
        found.append("auto:dsn")
    return found


def is_out_of_office(parsed: ParsedMail) -> bool:
    """An absence notice: stored on its ticket without changing anything."""
    headers = parsed.headers
    if _first(headers, "auto-submitted").lower().startswith("auto-replied"):
        return True
    if "x-autoreply" in headers or "x-autorespond" in headers:
        return True
    if _first(headers, "precedence").lower().strip() in ("auto_reply", "auto-reply"):
        return True
    return bool(_OOO_SUBJECT.search(parsed.subject))


def _first(headers, name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""
