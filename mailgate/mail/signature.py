"""Where the author's signature starts: the "-- " delimiter and the lines
mail apps append ("Sent from my iPhone" in many languages)."""

from __future__ import annotations

import re

# "-- " (RFC 3676 §4.3), its common mistypings, and the long rule mailing
# lists put above their footer.
_DELIMITER = re.compile(r"^(?:--|-- |__|—|–|_{20,}|-{20,})\s*$")
_SENT_FROM = re.compile(
    r"^\s*(?:sent\s+(?:from|with|via|using)\s|get\s+outlook\s+for|sent\s+from\s+my|"
    r"envoyé\s+(?:de|depuis|à\s+partir\s+d)|(?:obtenir|scarica|obtener|obter|holen\s+sie\s+sich)\s+outlook|"
    r"outlook\s+для\s|inviato\s+da\s|inviato\s+dal\s+mio|enviado\s+(?:desde|do|de)\s|"
    r"von\s+meinem\s|gesendet\s+(?:von|mit|vom)\s|отправлено\s+(?:с|из|со)\s|"
    r"verzonden\s+(?:vanaf|met)\s|skickat\s+från\s|sendt\s+fra\s|lähetetty\s|wysłane\s+z\s|"
    r"odesláno\s+z\s|scritto\s+da\s)", re.IGNORECASE)


# Closings that open a signature when only a few short lines follow them
# ("Best regards,\nAnna\n+39 02 …"). "Thanks," is not one: it is as often
# the last sentence of the message as its closing.
_CLOSING = re.compile(
    r"^\s*(?:best\s+regards|kind\s+regards|warm\s+regards|regards|best\s+wishes|all\s+the\s+best|cheers|"
    r"sincerely|yours\s+sincerely|yours\s+truly|respectfully|"
    r"mit\s+freundlichen\s+gr(?:ü|ue|u)(?:ß|ss)en|freundliche\s+gr(?:ü|ue)(?:ß|ss)e|viele\s+gr(?:ü|ue)(?:ß|ss)e|"
    r"beste\s+gr(?:ü|ue)(?:ß|ss)e|liebe\s+gr(?:ü|ue)(?:ß|ss)e|herzliche\s+gr(?:ü|ue)(?:ß|ss)e|mfg|lg|"
    r"cordialement|bien\s+cordialement|bien\s+à\s+vous|salutations|meilleures\s+salutations|amitiés|"
    r"cordiali\s+saluti|distinti\s+saluti|saluti|un\s+saluto|cordialmente|"
    r"saludos|un\s+saludo|saludos\s+cordiales|atentamente|un\s+abrazo|atenciosamente|cumprimentos|"
    r"с\s+уважением|всего\s+доброго|всего\s+хорошего|с\s+наилучшими\s+пожеланиями|"
    r"met\s+vriendelijke\s+groet(?:en)?|groeten|mvg|med\s+vänlig\s+hälsning|vänliga\s+hälsningar|"
    r"hälsningar|mvh|med\s+venlig\s+hilsen|venlig\s+hilsen|kærlig\s+hilsen|kh|med\s+vennlig\s+hilsen|"
    r"vennlig\s+hilsen|hilsen|pozdrawiam|z\s+powa(?:ż|z)aniem|pozdrowienia|ystävällisin\s+terveisin|"
    r"terveisin|s\s+pozdravem)\s*[,.!]?\s*$",
    re.IGNORECASE)
_SIGNATURE_LINES = 6
# The start of the legal text companies append.
_DISCLAIMER = re.compile(
    r"^\s*(?:\**\s*disclaimer\s*\**\s*:?|confidentiality\s+(?:notice|note)\s*:?|"
    r"(?:privileged|confidential|private|sensitive|important)\s+(?:notice|note|information)\s*:|"
    r"this\s+(?:e-?mail|message|communication)(?:\s+and\s+any\s+attachments?)?\s+(?:is|are|may\s+contain)\s+"
    r"(?:confidential|intended|privileged)|the\s+information\s+contained\s+in\s+this\s+"
    r"(?:e-?mail|message|communication))",
    re.IGNORECASE)


def signature_start(lines: list[str], start: int = 0, end: int | None = None,
                    seen_text: bool = False) -> int | None:
    """Index of the first signature line after some text, or None."""
    for n in range(start, len(lines) if end is None else end):
        line = lines[n]
        if seen_text and (_DELIMITER.match(line) or _sent_from(line) or _DISCLAIMER.match(line)
                          or _closing(lines, n)):
            return n
        seen_text = seen_text or bool(line.strip())
    return None


def _closing(lines: list[str], n: int) -> bool:
    """A closing with the writer's name right under it, and little more: a
    signature block. "Best regards" on its own is the end of the message."""
    if not _CLOSING.match(lines[n]) or n + 1 >= len(lines) or not lines[n + 1].strip():
        return False
    rest = [line for line in lines[n + 1:] if line.strip()]
    return len(rest) <= _SIGNATURE_LINES and all(len(line.strip()) <= 60 for line in rest)


def _sent_from(line: str) -> bool:
    """"Sent from my iPhone", not "Inviato da desk, is much easier…"."""
    return bool(_SENT_FROM.match(line)) and len(line) < 120 and not re.search(r"[,;]\s", line)
