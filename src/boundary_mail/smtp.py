"""Sending with aiosmtplib: implicit TLS or STARTTLS with verification, and AUTH; pipelined
(smtp_pipeline: two round trips a message, one for each that follows another) where the
server offers PIPELINING.

Messages arrive here already composed (bytes, with their own stable Message-ID), so sending
the same queued action twice sends byte-identical mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import aiosmtplib

from boundary_mail import smtp_pipeline
from boundary_mail.config import SmtpConfig
from boundary_mail.errors import MailboxUnavailable, SecretUnavailable
from boundary_mail.net import ConnectionTrouble, tls_context
from boundary_mail.sasl import NoOAuthMechanism, Secret, refused_login, smtp_login

log = logging.getLogger(__name__)

__all__ = [
    "ConnectionTrouble", "MaybeDelivered", "SendRefused", "Sendable", "Session", "server_size",
    "session",
]


class Sendable(Protocol):
    """A composed message and its envelope (a queued action is one)."""

    @property
    def raw(self) -> bytes: ...
    @property
    def envelope_from(self) -> str: ...  # "" is the null reverse path <>
    @property
    def recipients(self) -> Sequence[str]: ...


class SendRefused(MailboxUnavailable):
    """The server refused this message for good (a 5xx answer): retrying will not help."""


class MaybeDelivered(MailboxUnavailable):
    """The message was handed over but its answer never came: the server may have it."""


def _where(smtp: SmtpConfig) -> str:
    return f"SMTP server {smtp.host}:{smtp.port}"


CLOSE_WAIT_SECONDS = 2.0


async def _close(client: aiosmtplib.SMTP) -> None:
    """Close the connection and wait (briefly) until its socket is really closed. Closing a
    TLS connection only starts its shutdown; an event loop that ends right after (a `poll`
    that is done) would leave the socket open."""
    protocol = client.protocol
    client.close()
    await _closed(protocol)


async def _closed(protocol: object) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_WAIT_SECONDS
    # aiosmtplib's protocol drops its transport when the connection is lost.
    while getattr(protocol, "transport", None) is not None and loop.time() < deadline:
        await asyncio.sleep(0.005)


class Session:
    """One authenticated SMTP connection; `send` maps every failure to what it means."""

    def __init__(self, client: aiosmtplib.SMTP, smtp: SmtpConfig) -> None:
        self._client = client
        self._smtp = smtp
        self._pipeline = smtp_pipeline.Pipeline(
            client, timeout=smtp.timeout_seconds, final_timeout=smtp.final_reply_timeout_seconds)

    @property
    def pipelined(self) -> bool:
        return self._smtp.pipelining and self._client.supports_extension("pipelining")

    @property
    def size_limit(self) -> int | None:
        """The biggest message the server takes (RFC 1870 SIZE in its EHLO answer); None
        when it names none (no SIZE, or SIZE 0: no fixed limit)."""
        value = self._client.esmtp_extensions.get("size", "").strip()
        return int(value) if value.isdigit() and int(value) > 0 else None

    async def send(self, message: Sendable, then: Sendable | None = None) -> list[str]:
        """Send one message; raise SendRefused (permanent), MaybeDelivered (no answer to the
        final dot: the server may have it) or ConnectionTrouble (not delivered; try later).
        Returns the recipients the server would not take while it took others, each with its
        answer ("bob@x (452 4.2.2 mailbox full)"): they do not get the message.
        When pipelined, `then`'s envelope goes out with this message, and the next `send`
        must be `then`'s (a session that ends instead closes the connection: `then` was not
        sent)."""
        raw, envelope_from, recipients = message.raw, message.envelope_from, message.recipients
        if self.pipelined:
            await self._send_pipelined(message, then)
            return [f"{to} ({reply})" for to, reply in self._pipeline.passed_over]
        passed_over = await self._envelope(raw, envelope_from, recipients)
        try:
            # RFC 5321 §4.5.3.2: up to 10 minutes for the answer to the final dot.
            await self._client.data(raw, timeout=self._smtp.final_reply_timeout_seconds)
        except aiosmtplib.SMTPDataError as exc:
            # Refused at DATA, the envelope stays open on the server (the next MAIL would
            # get 503); after the final dot the reset is harmless.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await self._client.rset()
            raise self._refused(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MaybeDelivered(
                f"{_where(self._smtp)}: no answer after the message was handed over"
                f" ({type(exc).__name__}); it may have been delivered"
            ) from None
        return passed_over

    async def _envelope(self, raw: bytes, sender: str, recipients: Sequence[str]
                        ) -> list[str]:
        """MAIL FROM and RCPT TO (with SIZE where offered); a refusal resets the envelope.
        The recipients refused while others were taken, with the server's answers."""
        client = self._client
        try:
            await client.mail(sender, options=self._mail_options(raw))
            refused: list[tuple[str, str]] = []
            for recipient in recipients:
                try:
                    await client.rcpt(recipient)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused.append((recipient, f"{exc.code} {exc.message}"))
            if len(refused) == len(recipients):
                await client.rset()
                raise self._recipients_refused([reply for _, reply in refused])
            return [f"{to} ({reply})" for to, reply in refused]
        except aiosmtplib.SMTPSenderRefused as exc:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.rset()
            raise self._refused(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ConnectionTrouble(
                f"{_where(self._smtp)}: sending failed ({type(exc).__name__}); will try again"
            ) from None

    @property
    def busy(self) -> bool:
        """A next message's envelope is on its way: the session cannot end with QUIT."""
        return self._pipeline.ahead

    def abandon(self) -> None:
        """Close the connection at once (an envelope on its way is never followed by data)."""
        self._pipeline.abandon()

    def _envelope_of(self, message: Sendable) -> smtp_pipeline.Envelope:
        return smtp_pipeline.Envelope(message.envelope_from, tuple(message.recipients),
                                      tuple(self._mail_options(message.raw)))

    async def _send_pipelined(self, message: Sendable, then: Sendable | None) -> None:
        """The same outcomes as MAIL, RCPT and DATA one by one, in two round trips, or one
        when the envelope went out with the message before."""
        try:
            refusal = await self._pipeline.transact(
                self._envelope_of(message), message.raw,
                self._envelope_of(then) if then is not None else None)
        except smtp_pipeline.Unsent as exc:
            raise ConnectionTrouble(
                f"{_where(self._smtp)}: sending failed ({exc}); will try again") from None
        except smtp_pipeline.Unanswered as exc:
            raise MaybeDelivered(
                f"{_where(self._smtp)}: no answer after the message was handed over"
                f" ({exc}); it may have been delivered"
            ) from None
        if refusal is None:
            return
        if refusal.stage == "recipients":
            raise self._recipients_refused([str(r) for r in refusal.replies])
        (reply,) = refusal.replies
        raise self._refused(reply.code, reply.text)

    def _mail_options(self, raw: bytes) -> list[str]:
        """RFC 1870 SIZE where offered: a message too big is refused before it is sent."""
        return [f"SIZE={len(raw)}"] if self._client.supports_extension("size") else []

    def _recipients_refused(self, refused: Sequence[str]) -> SendRefused:
        return SendRefused(
            f"{_where(self._smtp)}: the recipient was refused ({', '.join(refused)})")

    def _refused(self, code: int, message: str) -> MailboxUnavailable:
        """A refusal by code: 5xx is for good, 4xx means try later."""
        text = f"{_where(self._smtp)}: the message was refused ({code} {message})"
        if 500 <= code < 600:
            return SendRefused(text)
        return ConnectionTrouble(text + "; will try again")


@asynccontextmanager
async def session(smtp: SmtpConfig, password: Secret) -> AsyncIterator[Session]:
    """Connect (implicit TLS or STARTTLS, certificate verified) and log in, or raise
    MailboxUnavailable with what to fix."""
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        use_tls=smtp.security == "tls",
        start_tls=smtp.security == "starttls",
        tls_context=tls_context(str(smtp.ca_file) if smtp.ca_file else None),
        timeout=smtp.timeout_seconds,
    )
    try:
        await client.connect()
        if smtp.username:
            await smtp_login(client, smtp.username, password,
                             smtp.oauth2.mechanism if smtp.oauth2 else "auto")
    except NoOAuthMechanism as exc:
        await _close(client)
        raise MailboxUnavailable(f"{_where(smtp)}: {exc.fix}") from None
    except MailboxUnavailable:  # the token endpoint could not be reached: try later
        await _close(client)
        raise
    except SecretUnavailable as exc:  # no token (a sign-in needed): the queue waits, saying so
        await _close(client)
        raise MailboxUnavailable(str(exc)) from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        await _close(client)
        if 400 <= exc.code < 500:  # e.g. 454: the server's own auth backend is down
            raise ConnectionTrouble(
                f"{_where(smtp)}: login failed temporarily ({exc.code} {exc.message});"
                " will try again"
            ) from None
        raise MailboxUnavailable(f"{_where(smtp)}: {refused_login(smtp.username, password)}"
                                 ) from None
    except ssl.SSLCertVerificationError as exc:
        await _close(client)
        raise MailboxUnavailable(
            f"{_where(smtp)}: the server's TLS certificate is not trusted"
            f" ({exc.verify_message}); set smtp.ca_file to the CA that signed it"
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        await _close(client)
        cause = exc.__cause__ or exc
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise MailboxUnavailable(
                f"{_where(smtp)}: the server's TLS certificate is not trusted"
                f" ({cause.verify_message}); set smtp.ca_file to the CA that signed it"
            ) from None
        raise ConnectionTrouble(
            f"{_where(smtp)}: cannot connect ({type(exc).__name__}: {exc}); check host, port,"
            " security and that the server is up; will try again"
        ) from None
    connection = Session(client, smtp)
    try:
        yield connection
    finally:
        protocol = client.protocol
        if connection.busy:  # no QUIT into a message the server may be reading
            connection.abandon()
        else:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):  # the server may have gone already
                client.close()
        await _closed(protocol)


async def server_size(smtp: SmtpConfig, password: Secret) -> int | None:
    """The server's SIZE limit, asked over a connection of its own; None when it names none
    or cannot be asked now (the configured limit then stands alone)."""
    try:
        async with session(smtp, password) as connection:
            return connection.size_limit
    except MailboxUnavailable as exc:
        log.warning("the size limit of %s could not be asked: %s", _where(smtp), exc)
        return None
