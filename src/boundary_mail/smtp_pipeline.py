"""SMTP PIPELINING (RFC 2920): a message in two round trips instead of four, and in one when
it follows another on the same session.

MAIL FROM, every RCPT TO and DATA go out in one write; their answers are read in order; on
354 the message follows with its final dot, and with the next message's MAIL, RCPT and DATA
when that one is waiting (`Pipeline`). aiosmtplib cannot read several answers to one
write (its protocol parses one answer per command and drops what arrives while none is
pending), so for the exchange the session's transport is handed to a `ReplyReader` of our
own (`transport.set_protocol`, public asyncio API) and given back to aiosmtplib once no
answer is outstanding, so QUIT and close work as before.

Never pair an answer with the wrong command: whenever the exchange cannot be sure where it
stands (no answer in time, garbage, an answer too many), the connection is closed and the
caller starts a new one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import (
    COMMAND_INJECTION_REGEX,
    PERIOD_REGEX,
    normalize_message_line_endings,
)

log = logging.getLogger(__name__)

# RFC 5321 §4.5.3.1.5 asks for 512 octets per reply line; servers send longer text, so the
# limits are aiosmtplib's own (8 KiB a line, 32 KiB an answer): the same servers work.
MAX_LINE_BYTES = 8192
MAX_REPLY_BYTES = 4 * MAX_LINE_BYTES
# RFC 5321 §4.2: a reply line is a three-digit code (2xx-5xx), then "-" when more lines
# follow, or " " (or nothing) on the last one, then text.
REPLY_LINE = re.compile(rb"([2-5][0-9][0-9])(?:([- ])(.*?))?\r?\n\Z", re.DOTALL)


class ReplyError(Exception):
    """The server's bytes are not an SMTP reply (or one too long to be one)."""


class ConnectionLost(Exception):
    """The connection ended before the answer came."""


class Unsent(Exception):
    """The exchange failed before the message was handed over: it was not delivered."""


class Unanswered(Exception):
    """The message was handed over but its answer never came: the server may have it."""


@dataclass(frozen=True)
class Reply:
    code: int
    text: str  # the lines' text, joined by newlines (as aiosmtplib gives it)

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


@dataclass(frozen=True)
class Refusal:
    """Why the server did not take the message: `mail` (MAIL FROM refused), `recipients`
    (every RCPT refused; `replies` are theirs), `data` (DATA refused) or `final` (the answer
    to the final dot)."""

    stage: Literal["mail", "recipients", "data", "final"]
    replies: tuple[Reply, ...]


class ReplyReader(asyncio.Protocol):
    """Parses complete SMTP replies from whatever chunks arrive, in order, into a queue.

    It stands in for aiosmtplib's protocol (`previous`) during an exchange; a lost connection
    is passed on to it, so aiosmtplib knows the connection is gone."""

    def __init__(self, previous: asyncio.BaseProtocol) -> None:
        self._previous = previous
        self._buffer = bytearray()
        self._lines: list[tuple[int, bytes]] = []  # the lines of the reply being read
        self._replies: deque[Reply] = deque()
        self._failure: Exception | None = None
        self._arrived: asyncio.Event = asyncio.Event()

    @property
    def failure(self) -> Exception | None:
        """Why no more replies can come (connection lost, garbage), or None."""
        return self._failure

    @property
    def idle(self) -> bool:
        """Every reply that arrived has been taken and nothing else is buffered."""
        return not self._replies and not self._buffer and not self._lines

    def data_received(self, data: bytes) -> None:
        if self._failure is not None:
            return
        self._buffer.extend(data)
        try:
            self._parse()
        except ReplyError as exc:
            self._fail(exc)
        self._arrived.set()

    def eof_received(self) -> bool:
        self._fail(ConnectionLost("the server closed the connection"))
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionLost(f"connection lost ({exc or 'closed'})"))
        self._previous.connection_lost(exc)

    async def next_reply(self, timeout: float) -> Reply:
        """The next reply; ConnectionLost, ReplyError, or TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout):
            while not self._replies:
                if self._failure is not None:
                    raise self._failure
                self._arrived.clear()
                await self._arrived.wait()
        return self._replies.popleft()

    def _fail(self, exc: Exception) -> None:
        if self._failure is None:
            self._failure = exc
        self._arrived.set()

    def _parse(self) -> None:
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            self._take(line)
        if len(self._buffer) > MAX_LINE_BYTES:
            raise ReplyError(f"a reply line longer than {MAX_LINE_BYTES} bytes")

    def _take(self, line: bytes) -> None:
        if len(line) > MAX_LINE_BYTES:
            raise ReplyError(f"a reply line longer than {MAX_LINE_BYTES} bytes")
        match = REPLY_LINE.match(line)
        if match is None:
            raise ReplyError(f"not an SMTP reply: {line[:60]!r}")
        code = int(match[1])
        if self._lines and code != self._lines[0][0]:
            raise ReplyError(f"a reply whose lines have different codes: {line[:60]!r}")
        self._lines.append((code, (match[3] or b"").strip(b" \t\r")))
        if sum(len(text) + 4 for _, text in self._lines) > MAX_REPLY_BYTES:
            raise ReplyError(f"a reply longer than {MAX_REPLY_BYTES} bytes")
        if match[2] != b"-":
            text = b"\n".join(text for _, text in self._lines)
            self._replies.append(Reply(code, text.decode("utf-8", "surrogateescape")))
            self._lines = []


def command_lines(sender: str, recipients: Sequence[str], options: Sequence[str]) -> bytes:
    """MAIL FROM (with its options), one RCPT TO per recipient and DATA, as aiosmtplib would
    write them one by one (the same address quoting; ValueError for an address that cannot
    go on a command line)."""
    lines = [b" ".join([b"MAIL FROM:" + quote_address(sender).encode("ascii"),
                        *(option.encode("ascii") for option in options)])]
    lines += [b"RCPT TO:" + quote_address(r).encode("ascii") for r in recipients]
    lines.append(b"DATA")
    if any(COMMAND_INJECTION_REGEX.search(line) for line in lines):
        raise ValueError("Command arg contains a prohibited control character")
    return b"".join(line + b"\r\n" for line in lines)


def message_data(raw: bytes) -> bytes:
    """The message as it goes after 354: CRLF line ends, dot-stuffed, with its final dot (the
    same bytes aiosmtplib's `SMTP.data` writes)."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw)) + b".\r\n"


def accepted(reply: Reply) -> bool:
    return reply.code in (250, 251)  # RCPT: 251 "user not local; will forward" (RFC 5321)


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, with the MAIL FROM options (SIZE)."""

    sender: str
    recipients: tuple[str, ...]
    options: tuple[str, ...] = ()

    def commands(self) -> bytes:
        return command_lines(self.sender, self.recipients, self.options)


class Pipeline:
    """The pipelined exchanges of one session. A message's content goes out in one write
    with the next message's MAIL, RCPT and DATA when that one is already known (`then`):
    RFC 2920 §3.1 lets the content start a group, so a stream of messages costs one round
    trip each. While such an envelope is in flight (`ahead`) the reader stays installed; a
    session that ends then must close the connection rather than say QUIT: the server may
    be reading a message, and no final dot ever follows, so nothing is delivered."""

    def __init__(self, client: aiosmtplib.SMTP, *, timeout: float, final_timeout: float
                 ) -> None:
        self._client = client
        self._timeout, self._final_timeout = timeout, final_timeout
        self._reader: ReplyReader | None = None
        self._previous: asyncio.BaseProtocol | None = None
        self._ahead: Envelope | None = None  # written with the last message, answers unread
        # The recipients of the last message taken whom the server would not take (while it
        # took others), with its answer to each: they do not get the message.
        self.passed_over: tuple[tuple[str, Reply], ...] = ()

    @property
    def ahead(self) -> bool:
        """A next message's envelope is on its way: the session must not say QUIT now."""
        return self._ahead is not None

    async def transact(self, envelope: Envelope, raw: bytes, then: Envelope | None = None
                       ) -> Refusal | None:
        """Send one message; None when the server took it (for at least one recipient).
        `then`, the next message's envelope, goes out with this one's content; the next call
        must be for that message (its envelope is not written again).

        A refusal ends with the transaction reset (RSET) so the connection can carry the next
        message. Raises Unsent (not delivered) or Unanswered (no answer to the final dot);
        the connection is then closed, as it is whenever the exchange could lose its place."""
        written, self._ahead = self._ahead, None
        self.passed_over = ()
        if written is not None and written != envelope:
            self._close()
            raise Unsent("the envelope on its way was for another message")
        commands = envelope.commands() if written is None else b""  # ValueError: no write
        try:
            following = then.commands() if then is not None else b""
        except ValueError:
            following, then = b"", None  # its own call raises, before anything is written
        transport, reader = self._install()
        usable = False
        try:
            refusal, usable, chained = await self._exchange(
                reader, transport, commands, raw, envelope.recipients, following)
            self._ahead = then if chained else None
            return refusal
        finally:
            if not usable or reader.failure is not None:
                self._close()
            elif self._ahead is None:
                self._uninstall(reader)

    def abandon(self) -> None:
        """Close the connection (the session ends with an envelope on its way)."""
        self._ahead = None
        self._close()

    def _install(self) -> tuple[asyncio.WriteTransport, ReplyReader]:
        transport = self._client.transport
        if self._reader is not None and isinstance(transport, asyncio.WriteTransport):
            return transport, self._reader
        previous = self._client.protocol
        if not isinstance(transport, asyncio.WriteTransport) or transport.is_closing() \
                or previous is None:
            raise Unsent("not connected")
        self._reader, self._previous = ReplyReader(previous), previous
        transport.set_protocol(self._reader)
        return transport, self._reader

    def _uninstall(self, reader: ReplyReader) -> None:
        transport, previous = self._client.transport, self._previous
        self._reader = self._previous = None
        if transport is not None and previous is not None:
            transport.set_protocol(previous)
        if not reader.idle:
            log.warning("the SMTP server sent more than the answers to its commands; the"
                        " connection is closed so no answer is taken for another command's")
            self._close()

    def _close(self) -> None:
        """Close the connection; aiosmtplib hears of it through its protocol."""
        self._ahead = None
        transport, previous = self._client.transport, self._previous
        self._reader = self._previous = None
        if transport is not None:
            if previous is not None:
                transport.set_protocol(previous)
            transport.close()

    async def _exchange(
        self, reader: ReplyReader, transport: asyncio.WriteTransport, commands: bytes,
        raw: bytes, recipients: tuple[str, ...], following: bytes,
    ) -> tuple[Refusal | None, bool, bool]:
        """The outcome, whether the connection is still in step for the next message, and
        whether the next message's envelope went out with this one."""
        timeout, final_timeout = self._timeout, self._final_timeout
        if commands:
            transport.write(commands)
        try:
            mail = await reader.next_reply(timeout)
            rcpts = [await reader.next_reply(timeout) for _ in recipients]
            data = await reader.next_reply(timeout)
        except (ConnectionLost, ReplyError, TimeoutError) as exc:
            raise Unsent(_why(exc, timeout)) from None
        taken = [r for r in rcpts if accepted(r)]
        if mail.code != 250:
            refusal = Refusal("mail", (mail,))
        elif not taken:
            refusal = Refusal("recipients", tuple(rcpts))
        elif data.code != 354:
            refusal = Refusal("data", (data,))
        else:
            if not commands:
                await _take_in_arrivals()
            if reader.failure is not None or transport.is_closing():
                raise Unsent(_why(reader.failure or ConnectionLost("connection lost"), timeout))
            transport.write(message_data(raw) + following)
            try:
                final = await reader.next_reply(final_timeout)
            except (ConnectionLost, ReplyError, TimeoutError) as exc:
                raise Unanswered(_why(exc, final_timeout)) from None
            if final.code != 250:
                return Refusal("final", (final,)), True, bool(following)
            self.passed_over = tuple((to, reply) for to, reply in zip(recipients, rcpts,
                                                                        strict=True)
                                     if not accepted(reply))
            return None, True, bool(following)
        if data.code == 354 and taken:
            # 354 after a refused MAIL but accepted recipients makes no sense: closing the
            # connection ends the transaction without a dot that could deliver anything.
            log.warning("the SMTP server refused MAIL FROM (%s) but accepted recipients and"
                        " DATA; the connection is closed", mail)
            return refusal, False, False
        reset = await _reset(reader, transport, started=data.code == 354, timeout=timeout)
        if not reset:
            log.warning("the SMTP transaction could not be reset after a refusal (%s); the"
                        " connection is closed and the next message goes over a new one",
                        refusal.replies[0])
        return refusal, reset, False


async def _reset(reader: ReplyReader, transport: asyncio.WriteTransport, *, started: bool,
                 timeout: float) -> bool:
    """End a refused transaction: after a 354 the final dot alone (no recipient was taken, so
    nothing is delivered), then RSET. True when the server is ready for the next one."""
    transport.write((b".\r\n" if started else b"") + b"RSET\r\n")
    try:
        if started:
            await reader.next_reply(timeout)
        return (await reader.next_reply(timeout)).code == 250
    except (ConnectionLost, ReplyError, TimeoutError):
        return False


async def _take_in_arrivals() -> None:
    """Let the event loop take in what has already arrived (a connection that ended)
    before a message's content goes out: when its envelope went ahead, its answers may have
    come with the last message's, and nothing has waited since (the last message was
    recorded meanwhile). One loop turn polls the socket, the next runs what it found; a TLS
    connection's end takes one more."""
    for _ in range(3):
        await asyncio.sleep(0)


def _why(exc: Exception, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(exc)
