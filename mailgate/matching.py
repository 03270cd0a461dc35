"""Which ticket a message continues (SPEC §4.1), and when it is a repeat of
one we already have (SPEC §3.2). Pure: the candidates come from the caller."""

from __future__ import annotations

import hashlib

from mailgate.domain import Candidates, Inbound, Match, ParsedMail
from mailgate.participants import sender_of


def dedup_key(parsed: ParsedMail, inbound: Inbound) -> str:
    """Message-ID + sender + digest of the decoded content.

    The digest keeps a client that reuses a Message-ID for a new mail from
    being swallowed (FreeScout #5591); without a Message-ID the sender and
    the digest alone identify the mail.
    """
    sender = sender_of(parsed, inbound)
    key = "\0".join((parsed.message_id or "", sender, parsed.content_digest))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def thread_ids(parsed: ParsedMail) -> list[str]:
    """Message-IDs this mail answers, most telling first: In-Reply-To, then
    References from the newest back."""
    ordered = list(parsed.in_reply_to) + list(reversed(parsed.references))
    own = parsed.message_id
    return [m for m in dict.fromkeys(ordered) if m != own]


def match_ticket(candidates: Candidates) -> tuple[Match, list[str]]:
    """The ticket this mail continues, with the rule hits that explain it, in
    the order of SPEC §4.1: reply token, references, subject tag."""
    hits = ["references:forged_id"] if candidates.forged_reference else []
    if candidates.token_ticket:
        return Match(candidates.token_ticket, "token"), hits + ["match:token"]
    if candidates.token == "valid":
        hits.append("token:unknown_ticket")
    if candidates.referenced:
        return Match(candidates.referenced[0], "references"), hits + ["match:references"]
    if candidates.tagged:
        return Match(candidates.tagged, "subject_tag"), hits + ["match:subject_tag"]
    if candidates.tag_number is not None:
        hits.append("subject_tag:unknown_ticket")
    return Match(None, None), hits
