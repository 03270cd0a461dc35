"""mailgate: an email-first helpdesk mail processor."""

__version__ = "0.1.0"
