"""What IMAP and SMTP share on the wire: verified TLS, and how a failed connection is retried.

Its own module so that `smtp` and `outbox` need not import `imap` (nor imapclient) for it:
each protocol module depends on this one, never on the other.
"""

from __future__ import annotations

import random
import ssl

from boundary_mail.errors import MailboxUnavailable

__all__ = ["ConnectionTrouble", "backoff_seconds", "tls_context"]


class ConnectionTrouble(MailboxUnavailable):
    """The server could not be reached, hung up, timed out or said "try later": trying again
    soon may help. (A refused login or an untrusted certificate will not.)"""


def backoff_seconds(failure: int, base: float, cap: float) -> float:
    """How long to wait after the `failure`-th failed attempt in a row (1-based): exponential
    from `base`, capped at `cap`, with jitter so many clients do not retry in lockstep."""
    step = min(cap, base * 2 ** (failure - 1))
    return random.uniform(step, min(2 * step, cap))  # noqa: S311 - jitter, not a secret


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying TLS context: system trust store, or only the configured CA file."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
