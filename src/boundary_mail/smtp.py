"""Sending with aiosmtplib: implicit TLS or STARTTLS with verification, and AUTH.

Messages arrive here already composed (bytes, with their own stable Message-ID), so sending
the same queued action twice sends byte-identical mail.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence

import aiosmtplib

from boundary_mail.config import SmtpConfig
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.imap import tls_context

log = logging.getLogger(__name__)


class SendRefused(MailboxUnavailable):
    """The server refused this message for good (a 5xx answer): retrying will not help."""


def _where(smtp: SmtpConfig) -> str:
    return f"SMTP server {smtp.host}:{smtp.port}"


async def send(
    smtp: SmtpConfig,
    password: str | None,
    raw: bytes,
    *,
    envelope_from: str,
    recipients: Sequence[str],
) -> None:
    """Send one message; raise SendRefused (permanent) or MailboxUnavailable (try later)."""
    context = tls_context(str(smtp.ca_file) if smtp.ca_file else None)
    try:
        await aiosmtplib.send(
            raw,
            sender=envelope_from,
            recipients=list(recipients),
            hostname=smtp.host,
            port=smtp.port,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",
            tls_context=context,
            username=smtp.username,
            password=password if smtp.username else None,
            timeout=smtp.timeout_seconds,
        )
    except aiosmtplib.SMTPAuthenticationError:
        raise MailboxUnavailable(
            f"{_where(smtp)}: login as {smtp.username!r} was refused; check the username and"
            " the password source"
        ) from None
    except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused,
            aiosmtplib.SMTPDataError) as exc:
        code = getattr(exc, "code", 0) or 0
        text = f"{_where(smtp)}: the message was refused ({exc})"
        if 500 <= code < 600 or isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            raise SendRefused(text) from None
        raise MailboxUnavailable(text + "; will try again") from None
    except ssl.SSLCertVerificationError as exc:
        raise MailboxUnavailable(
            f"{_where(smtp)}: the server's TLS certificate is not trusted"
            f" ({exc.verify_message}); set smtp.ca_file to the CA that signed it"
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailboxUnavailable(
            f"{_where(smtp)}: sending failed ({type(exc).__name__}: {exc}); will try again"
        ) from None
