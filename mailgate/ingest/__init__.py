"""Adapters that bring mail in: SMTP/LMTP server, pipe and file import."""
