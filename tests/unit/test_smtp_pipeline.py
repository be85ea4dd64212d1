"""The pipelined exchange's reply reader and its outcomes, byte by byte.

The reader is fed chunks as a transport would deliver them. `Pipeline.transact` runs against
a scripted in-memory transport that answers each write with canned replies, for the answers the test
Postfix cannot be made to give (a 4xx to MAIL, 354 after every RCPT was refused, an answer too
many); the outcomes Postfix does give are proven on it in tests/integration/test_pipelining.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from boundary_mail import smtp_pipeline
from boundary_mail.smtp_pipeline import (
    ConnectionLost,
    Refusal,
    Reply,
    ReplyError,
    ReplyReader,
    Unanswered,
    Unsent,
)


class Previous(asyncio.Protocol):
    """Stands for aiosmtplib's protocol: records the lost connection passed on to it."""

    def __init__(self) -> None:
        self.lost: list[Exception | None] = []

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def _read(*chunks: bytes) -> list[Reply]:
    async def run() -> list[Reply]:
        reader = ReplyReader(Previous())
        for chunk in chunks:
            reader.data_received(chunk)
        replies = []
        while not reader.idle:
            replies.append(await reader.next_reply(0.1))
        return replies

    return asyncio.run(run())


PIPELINED_ANSWERS = (
    b"250 2.1.0 Ok\r\n"
    b"550-5.1.1 <zoe@agency.test>: Recipient address rejected:\r\n"
    b"550 5.1.1 User unknown in virtual mailbox table\r\n"
    b"250 2.1.5 Ok\r\n"
    b"354 End data with <CR><LF>.<CR><LF>\r\n"
)
EXPECTED = [
    Reply(250, "2.1.0 Ok"),
    Reply(550, "5.1.1 <zoe@agency.test>: Recipient address rejected:\n"
               "5.1.1 User unknown in virtual mailbox table"),
    Reply(250, "2.1.5 Ok"),
    Reply(354, "End data with <CR><LF>.<CR><LF>"),
]


def test_several_replies_in_one_chunk_come_out_one_by_one_in_order() -> None:
    assert _read(PIPELINED_ANSWERS) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(PIPELINED_ANSWERS)))
def test_replies_split_at_any_byte_are_the_same_replies(cut: int) -> None:
    assert _read(PIPELINED_ANSWERS[:cut], PIPELINED_ANSWERS[cut:]) == EXPECTED


def test_replies_arriving_a_byte_at_a_time_are_the_same_replies() -> None:
    chunks = [PIPELINED_ANSWERS[i:i + 1] for i in range(len(PIPELINED_ANSWERS))]
    assert _read(*chunks) == EXPECTED


@pytest.mark.parametrize(("wire", "reply"), [
    (b"250\r\n", Reply(250, "")),  # RFC 5321 §4.2: the text is optional
    (b"250 ok\n", Reply(250, "ok")),  # a bare LF, as aiosmtplib takes it
    (b"250-a\r\n250-b\r\n250 c\r\n", Reply(250, "a\nb\nc")),
    (b"221 2.0.0 Bye \xff\r\n", Reply(221, "2.0.0 Bye \udcff")),
])
def test_a_reply_is_read_as_aiosmtplib_reads_it(wire: bytes, reply: Reply) -> None:
    assert _read(wire) == [reply]


def test_a_reply_waits_for_its_last_line() -> None:
    async def run() -> None:
        reader = ReplyReader(Previous())
        reader.data_received(b"250-PIPELINING\r\n250-SIZE 10240000\r\n")
        with pytest.raises(TimeoutError):
            await reader.next_reply(0.05)
        reader.data_received(b"250 8BITMIME\r\n")
        assert await reader.next_reply(0.05) == Reply(250, "PIPELINING\nSIZE 10240000\n8BITMIME")
        assert reader.idle

    asyncio.run(run())


@pytest.mark.parametrize(("wire", "why"), [
    (b"25O Ok\r\n", "not an SMTP reply"),
    (b"hello\r\n", "not an SMTP reply"),
    (b"650 Ok\r\n", "not an SMTP reply"),  # no such class of reply
    (b"250Ok\r\n", "not an SMTP reply"),  # a code runs into its text
    (b"250-a\r\n354 b\r\n", "different codes"),
    (b"250 " + b"x" * 9000 + b"\r\n", "longer than 8192"),
    (b"250 " + b"x" * 9000, "longer than 8192"),  # no line end yet, and too long already
    ((b"250-" + b"x" * 8000 + b"\r\n") * 5, "reply longer"),
])
def test_garbage_or_an_endless_reply_fails_the_reader(wire: bytes, why: str) -> None:
    async def run() -> None:
        reader = ReplyReader(Previous())
        reader.data_received(wire)
        with pytest.raises(ReplyError, match=why):
            await reader.next_reply(0.1)
        reader.data_received(b"250 Ok\r\n")  # nothing after garbage is believed
        with pytest.raises(ReplyError):
            await reader.next_reply(0.1)

    asyncio.run(run())


def test_a_connection_lost_mid_reply_fails_the_wait_and_tells_aiosmtplib() -> None:
    async def run() -> None:
        previous = Previous()
        reader = ReplyReader(previous)
        reader.data_received(b"250 Ok\r\n250-half")
        waiting = asyncio.ensure_future(reader.next_reply(5))
        await asyncio.sleep(0)
        reset = ConnectionResetError("reset")
        reader.connection_lost(reset)
        assert await waiting == Reply(250, "Ok")  # what came whole still counts
        with pytest.raises(ConnectionLost, match="connection lost"):
            await reader.next_reply(5)
        assert previous.lost == [reset]

    asyncio.run(run())


def test_the_end_of_the_stream_fails_the_wait() -> None:
    async def run() -> None:
        reader = ReplyReader(Previous())
        waiting = asyncio.ensure_future(reader.next_reply(5))
        await asyncio.sleep(0)
        assert reader.eof_received() is False  # the transport closes, connection_lost follows
        with pytest.raises(ConnectionLost, match="closed the connection"):
            await waiting

    asyncio.run(run())


# ------------------------------------------------------------------------ transact

Script = Callable[[bytes], bytes]  # what the client wrote -> what the server answers


# Answers come on the next turn of the loop; a test that waits for one that never comes
# waits this long (long enough that a busy machine never makes an answer late).
TIMEOUT, FINAL_TIMEOUT = 1.5, 2.0


class ScriptedTransport(asyncio.WriteTransport):
    """Answers each write with the script's bytes, on the next loop turn, to whichever
    protocol is installed then (as a real transport would)."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.written: list[bytes] = []
        self.protocol: asyncio.BaseProtocol | None = None
        self.closed = False

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))
        answer = self.script(bytes(data))
        if answer:
            asyncio.get_running_loop().call_soon(self._deliver, answer)

    def _deliver(self, answer: bytes) -> None:
        protocol = self.protocol
        assert isinstance(protocol, asyncio.Protocol)
        protocol.data_received(answer)


class Client:
    """The two public attributes of aiosmtplib.SMTP that transact uses."""

    def __init__(self, transport: ScriptedTransport) -> None:
        self.transport = transport
        self.protocol = Previous()
        transport.set_protocol(self.protocol)


def _pipeline(client: Client, timeout: float = TIMEOUT) -> smtp_pipeline.Pipeline:
    return smtp_pipeline.Pipeline(client, timeout=timeout,  # type: ignore[arg-type]
                                  final_timeout=FINAL_TIMEOUT)


def _transact(script: Script, recipients: tuple[str, ...] = ("ann@agency.test",),
              raw: bytes = b"Subject: x\r\n\r\nhi\r\n") -> tuple[Any, ScriptedTransport]:
    transport = ScriptedTransport(script)
    client = Client(transport)

    async def run() -> Any:
        try:
            return await _pipeline(client).transact(
                smtp_pipeline.Envelope("", recipients, ("SIZE=30",)), raw)
        except (Unsent, Unanswered) as exc:
            return exc

    outcome = asyncio.run(run())
    assert transport.protocol is client.protocol  # aiosmtplib's protocol is back
    return outcome, transport


def answers(commands: bytes = b"", body: bytes = b"250 2.0.0 Ok: queued\r\n",
            dot: bytes = b"554 5.5.1 Error: no valid recipients\r\n",
            rset: bytes = b"250 2.0.0 Ok\r\n") -> Script:
    def script(data: bytes) -> bytes:
        if data.startswith(b"MAIL FROM:"):
            return commands
        if data == b"RSET\r\n":
            return rset
        if data == b".\r\nRSET\r\n":
            return dot + rset
        return body

    return script


OK_ENVELOPE = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"


def test_commands_go_in_one_write_and_the_message_in_a_second() -> None:
    outcome, transport = _transact(answers(OK_ENVELOPE), raw=b"a\n.b\r\n.\r\n")
    assert outcome is None and not transport.closed
    assert transport.written == [
        b"MAIL FROM:<> SIZE=30\r\nRCPT TO:<ann@agency.test>\r\nDATA\r\n",
        b"a\r\n..b\r\n..\r\n.\r\n",
    ]


@pytest.mark.parametrize(("mail", "code"), [(b"451 4.3.0 try later", 451),
                                            (b"552 5.3.4 too big", 552)])
def test_a_refused_mail_from_is_a_refusal_then_rset(mail: bytes, code: int) -> None:
    outcome, transport = _transact(answers(
        mail + b"\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n"))
    assert isinstance(outcome, Refusal) and outcome.stage == "mail"
    assert outcome.replies[0].code == code
    assert transport.written[1:] == [b"RSET\r\n"] and not transport.closed


def test_every_recipient_refused_and_data_refused_resets_without_a_body() -> None:
    outcome, transport = _transact(answers(
        b"250 Ok\r\n550 5.1.1 no\r\n450 4.2.0 later\r\n554 5.5.1 no valid recipients\r\n"),
        recipients=("zoe@agency.test", "max@agency.test"))
    assert outcome == Refusal("recipients", (Reply(550, "5.1.1 no"), Reply(450, "4.2.0 later")))
    assert transport.written[1:] == [b"RSET\r\n"] and not transport.closed


def test_354_after_every_recipient_was_refused_gets_the_final_dot_alone() -> None:
    outcome, transport = _transact(answers(b"250 Ok\r\n550 5.1.1 no\r\n354 go ahead\r\n"))
    assert isinstance(outcome, Refusal) and outcome.stage == "recipients"
    assert transport.written[1:] == [b".\r\nRSET\r\n"] and not transport.closed


def test_354_after_a_refused_mail_but_accepted_recipients_closes_the_connection() -> None:
    outcome, transport = _transact(answers(b"550 no\r\n250 Ok\r\n354 go ahead\r\n"))
    assert isinstance(outcome, Refusal) and outcome.stage == "mail"
    assert transport.written[1:] == [] and transport.closed


@pytest.mark.parametrize("data", [b"451 4.3.0 later", b"554 5.7.1 no"])
def test_a_refused_data_sends_no_body_and_resets(data: bytes) -> None:
    outcome, transport = _transact(answers(b"250 Ok\r\n250 Ok\r\n" + data + b"\r\n"))
    assert isinstance(outcome, Refusal) and outcome.stage == "data"
    assert transport.written[1:] == [b"RSET\r\n"] and not transport.closed


def test_a_refused_message_ends_its_transaction_and_keeps_the_connection() -> None:
    outcome, transport = _transact(answers(OK_ENVELOPE, body=b"552 5.3.4 too big\r\n"))
    assert outcome == Refusal("final", (Reply(552, "5.3.4 too big"),))
    assert len(transport.written) == 2 and not transport.closed


def test_a_failed_rset_closes_the_connection_but_keeps_the_verdict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcome, transport = _transact(answers(b"552 too big\r\n503 a\r\n503 b\r\n",
                                           rset=b"421 bye\r\n"))
    assert outcome == Refusal("mail", (Reply(552, "too big"),)) and transport.closed
    assert "could not be reset after a refusal (552 too big)" in caplog.text


@pytest.mark.parametrize(("commands", "why"), [
    (b"250 Ok\r\n250 Ok\r\n", f"no answer within {TIMEOUT:g} s"),  # DATA's never comes
    (b"250 Ok\r\nnonsense\r\n", "not an SMTP reply"),
])
def test_trouble_before_the_message_is_unsent_and_closes(commands: bytes, why: str) -> None:
    outcome, transport = _transact(answers(commands))
    assert isinstance(outcome, Unsent) and why in str(outcome)
    assert len(transport.written) == 1 and transport.closed


def test_no_answer_to_the_message_is_unanswered_and_closes() -> None:
    outcome, transport = _transact(answers(OK_ENVELOPE, body=b""))
    assert isinstance(outcome, Unanswered)
    assert f"no answer within {FINAL_TIMEOUT:g} s" in str(outcome)
    assert transport.closed


def test_an_answer_too_many_closes_the_connection_after_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Taken (250), but an extra answer follows: the next command's answer could be paired
    with the wrong command, so the connection is closed."""
    outcome, transport = _transact(answers(OK_ENVELOPE, body=b"250 Ok\r\n250 extra\r\n"))
    assert outcome is None and transport.closed
    assert "sent more than the answers to its commands" in caplog.text


def test_a_closed_connection_is_unsent_without_writing() -> None:
    transport = ScriptedTransport(answers(OK_ENVELOPE))
    transport.closed = True
    client = Client(transport)
    with pytest.raises(Unsent, match="not connected"):
        asyncio.run(_pipeline(client, 1).transact(
            smtp_pipeline.Envelope("", ("a@b.test",)), b"x"))
    assert transport.written == []


@pytest.mark.parametrize("recipient", ["a\x00b@x.test", "a b<@x.test"])
def test_an_address_that_cannot_go_on_a_command_line_is_refused_before_any_write(
    recipient: str,
) -> None:
    """As aiosmtplib refuses it one command at a time (ValueError, nothing written)."""
    transport = ScriptedTransport(answers(OK_ENVELOPE))
    with pytest.raises(ValueError):
        asyncio.run(_pipeline(Client(transport), 1).transact(
            smtp_pipeline.Envelope("", ("ann@agency.test", recipient)), b"x"))
    assert transport.written == []
