"""What `smtp_pipeline` assumes about aiosmtplib beyond its public API, checked against the
installed one.

The pipelined exchange quotes addresses, refuses control characters and dot-stuffs the message
with aiosmtplib's own helpers (`aiosmtplib.email.quote_address`, and `PERIOD_REGEX`,
`normalize_message_line_endings`, `COMMAND_INJECTION_REGEX` from `aiosmtplib.protocol`), so it
writes the bytes aiosmtplib would; and it hands the transport to its own reader and back,
passing a lost connection on to aiosmtplib's protocol. aiosmtplib is pinned to one major
version in pyproject.toml; these tests make an upgrade that changes any of this fail here.
"""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import SMTPProtocol
from hypothesis import given
from hypothesis import strategies as st

from boundary_mail.smtp_pipeline import command_lines, message_data


class Capture(asyncio.WriteTransport):
    """Records what is written; answers DATA with 354 and anything else with 250."""

    def __init__(self, protocol: asyncio.Protocol | None = None) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.protocol = protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))
        if self.protocol is not None:
            answer = b"354 go ahead\r\n" if data == b"DATA\r\n" else b"250 queued\r\n"
            asyncio.get_running_loop().call_soon(self.protocol.data_received, answer)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def _aiosmtplib_writes(raw: bytes) -> bytes:
    """The bytes aiosmtplib's own DATA writes after 354 (its protocol over a capturing
    transport that answers)."""

    async def run() -> bytes:
        protocol = SMTPProtocol(loop=asyncio.get_running_loop())
        transport = Capture(protocol)
        protocol.connection_made(transport)
        await protocol.execute_data_command(raw, timeout=1)
        assert transport.written[0] == b"DATA\r\n"
        return b"".join(transport.written[1:])

    return asyncio.run(run())


MESSAGES = st.lists(st.sampled_from([b"a", b".", b"..", b"\r", b"\n", b"\r\n", b" "]),
                    max_size=40).map(b"".join)


@given(MESSAGES)
def test_the_message_goes_out_as_aiosmtplib_would_send_it(raw: bytes) -> None:
    assert message_data(raw) == _aiosmtplib_writes(raw)


def test_dot_stuffing_and_line_ends_by_example() -> None:
    assert message_data(b".a\n..b\r.\r\n") == b"..a\r\n...b\r\n..\r\n.\r\n"
    assert message_data(b"no end") == b"no end\r\n.\r\n"


def test_addresses_are_quoted_and_checked_as_aiosmtplib_does() -> None:
    assert quote_address("") == "<>"
    assert quote_address("ann@agency.test") == "<ann@agency.test>"
    with pytest.raises(ValueError):
        quote_address("ann b<@agency.test")
    assert command_lines("", ["ann@agency.test"], ["SIZE=5"]) == (
        b"MAIL FROM:<> SIZE=5\r\nRCPT TO:<ann@agency.test>\r\nDATA\r\n")


def test_a_lost_connection_passed_on_makes_aiosmtplib_drop_the_connection() -> None:
    """ReplyReader forwards connection_lost; aiosmtplib's protocol then forgets its
    transport (what smtp._closed waits for) and tells its SMTP client (which closes)."""

    async def run() -> None:
        told: list[SMTPProtocol] = []
        protocol = SMTPProtocol(loop=asyncio.get_running_loop(),
                                connection_lost_callback=told.append)
        protocol.connection_made(Capture())
        protocol.connection_lost(None)
        assert protocol.transport is None and told == [protocol]

    asyncio.run(run())


def test_an_smtp_client_exposes_its_transport_and_protocol() -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1")
    assert client.transport is None and client.protocol is None  # set by connect()
    assert client.supports_extension("pipelining") is False
