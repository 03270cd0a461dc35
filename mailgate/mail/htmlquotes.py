"""Quoted history in HTML replies, found by the structure mail clients give
it rather than by its text: Gmail's gmail_quote, Apple Mail and Thunderbird's
<blockquote type="cite">, Outlook's divRplyFwdMsg / appendonsend and its
bordered header div, Outlook for Mac's OLK_SRC_BODY_SECTION, Hotmail's
stopSpelling rule, Yahoo's yahoo_quoted."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

from mailgate.mail import html as htmlbody

_HINTS = re.compile(
    r"gmail_quote|type=[\"']?cite|divRplyFwdMsg|appendonsend|OLK_SRC_BODY_SECTION|yahoo_quoted|"
    r"moz-cite-prefix|stopSpelling|<blockquote|border-top:\s*solid|border-top-style:\s*solid",
    re.IGNORECASE)
# Elements that are the quote; everything inside goes.
_QUOTE = ("//blockquote | //*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
          " | //*[contains(@class, 'yahoo_quoted')] | //*[starts-with(@id, 'yahoo_quoted')]"
          " | //*[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]")
# Elements that start the quote: they and everything after them in the document go.
_QUOTE_STARTS = ("//*[@id='divRplyFwdMsg'] | //*[@id='appendonsend'] | //*[@id='OLK_SRC_BODY_SECTION']"
                 " | //hr[@id='stopSpelling'] | //*[contains(@id, 'stopSpelling')]")
_BORDER_TOP = re.compile(r"border-top(?:-style)?\s*:\s*solid", re.IGNORECASE)
_HEADER_TEXT = re.compile(r"^\s*(?:from|von|de|da|van|от|date|sent|gesendet|envoyé|inviato|enviado)\s*:",
                          re.IGNORECASE)


def has_quote_structure(html: str) -> bool:
    return bool(_HINTS.search(html))


def text_without_quotes(html: str) -> str:
    """The text of an HTML body with the quoted parts taken out."""
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return htmlbody.to_text(html)
    for element in root.xpath(_QUOTE):
        _drop(element)
    start = _first_quote_start(root)
    if start is not None:
        _drop_from(start)
    return htmlbody.to_text(lxml.html.tostring(root, encoding="unicode"))


def _first_quote_start(root):
    found = root.xpath(_QUOTE_STARTS)
    # Outlook desktop puts the original's header in a div with a top border.
    for div in root.iter("div", "p"):
        if _BORDER_TOP.search(div.get("style", "")) and _HEADER_TEXT.match(div.text_content() or ""):
            found.append(div)
            break
    if not found:
        return None
    order = {element: n for n, element in enumerate(root.iter())}
    return min(found, key=lambda element: order.get(element, 1 << 30))


def _drop_from(element) -> None:
    """Remove `element` and everything after it in the document."""
    node = element
    while node is not None and node.getparent() is not None:
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            _drop(sibling, keep_tail=False)
        node.tail = None
        if node is element:
            _drop(node, keep_tail=False)
        node = parent


def _drop(element, keep_tail: bool = True) -> None:
    parent = element.getparent()
    if parent is None:
        return
    # A quote in the middle: the text that follows it (its tail) stays.
    if keep_tail and element.tail and element.tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)
