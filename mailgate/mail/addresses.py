"""Which addresses are ours (support, no-reply, bounce), plus-address
splitting, and the recipient of a message that came without an envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from mailgate.config import Config
from mailgate.domain import Recipient


@dataclass(frozen=True)
class OurAddresses:
    """The addresses mailgate answers for, built once from the config."""

    support: dict[str, str]           # address -> queue name, in config order
    noreply: str
    bounce: str

    @classmethod
    def from_config(cls, config: Config) -> "OurAddresses":
        support = {address: queue.name for queue in config.queues for address in queue.addresses}
        return cls(support=support, noreply=config.site.noreply_address,
                   bounce=config.site.bounce_address)

    def classify(self, address: str) -> Recipient | None:
        """The Recipient for one of our addresses (plus-suffixes allowed), else None."""
        address = address.strip().strip("<>").lower()
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return None
        base, _, detail = local.partition("+")
        plain = f"{base}@{domain}"
        if plain in self.support:
            return Recipient(address, "support", self.support[plain], detail)
        if plain == self.noreply:
            return Recipient(address, "noreply", None, detail)
        if plain == self.bounce:
            return Recipient(address, "bounce", None, detail)
        return None

    def classify_all(self, addresses: Iterable[str]) -> list[Recipient]:
        found = (self.classify(a) for a in addresses)
        return [r for r in found if r is not None]


def envelope_recipients(ours: OurAddresses, envelope: Iterable[str],
                        header_fallbacks: Iterable[Iterable[str]]) -> tuple[list[Recipient], str]:
    """Our recipients of a message and where they came from (SPEC §3.1).

    `envelope` is the SMTP envelope, or for the pipe --recipient and then
    $ORIGINAL_RECIPIENT; `header_fallbacks` are tried in order when it holds
    none of ours: Delivered-To, X-Original-To, then To and Cc, then the
    address of the queue an IMAP mailbox feeds.
    """
    found = ours.classify_all(envelope)
    if found:
        return found, "envelope"
    names = ("delivered_to", "x_original_to", "to_cc", "mailbox")
    for name, candidates in zip(names, header_fallbacks):
        found = ours.classify_all(candidates)
        if found:
            return found[:1], name
    return [], "none"
