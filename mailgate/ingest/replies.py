"""SMTP/LMTP replies with enhanced status codes (RFC 3463)."""

RCPT_OK = "250 2.1.5 Ok"
DELIVERED = "250 2.0.0 Ok: stored"
ERR_UNKNOWN_RCPT = "550 5.1.1 <{address}>: Recipient address rejected: no such mailbox here"
ERR_TOO_MANY_RCPT = "452 4.5.3 Too many recipients"
ERR_TOO_BIG = "552 5.3.4 Message too big for system"
ERR_451 = "451 4.3.0 Temporary local problem, please try again later"
