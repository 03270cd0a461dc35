"""The exceptions mailgate raises on purpose: one root, few children."""


class MailgateError(Exception):
    """Root of every error mailgate raises deliberately."""


class ConfigError(MailgateError):
    """The configuration is invalid; the message names the key and the problem."""


class StorageUnavailable(MailgateError):
    """The database or the file store cannot be written right now.

    Ingest answers SMTP 451 4.3.0 and leaves IMAP mail untouched; the pipe
    exits with EX_TEMPFAIL so the MTA retries.
    """


class NotFound(MailgateError):
    """A ticket, quarantine entry or other record named by the user does not exist."""
