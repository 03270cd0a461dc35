"""What the receiving MTA says about the sender (Authentication-Results,
RFC 8601): only headers from MTAs we were told to trust count, since anyone
can write such a header into a message."""

from __future__ import annotations

import authres


def dmarc_failed(values: tuple[str, ...], trusted_ids: frozenset[str]) -> bool:
    """True if a trusted MTA recorded dmarc=fail for the message."""
    if not trusted_ids:
        return False
    for value in values:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except (authres.AuthResError, ValueError, IndexError, AttributeError, TypeError):
            continue
        if str(header.authserv_id).lower() not in trusted_ids:
            continue
        if any(result.method == "dmarc" and str(result.result).lower() == "fail" for result in header.results):
            return True
    return False
