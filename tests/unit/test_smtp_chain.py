"""A stream of pipelined messages: each message's content goes out with the next message's
envelope (RFC 2920 §3.1), so a queue costs one round trip a message after the first.

The scripted transport answers each write with the next prepared answer, on the next loop
turn, as `tests/unit/test_smtp_pipeline.py` does for one message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from boundary_mail.smtp_pipeline import Envelope, Pipeline, Refusal, Unanswered, Unsent
from tests.unit.test_smtp_pipeline import (
    FINAL_TIMEOUT,
    OK_ENVELOPE,
    TIMEOUT,
    Client,
    ScriptedTransport,
)

QUEUED = b"250 2.0.0 Ok: queued\r\n"
ENVELOPES = [Envelope("", (f"client{n}@acme.test",)) for n in range(3)]
RAWS = [f"Subject: {n}\r\n\r\nbody {n}\r\n".encode() for n in range(3)]


def _envelope_bytes(n: int) -> bytes:
    return f"MAIL FROM:<>\r\nRCPT TO:<client{n}@acme.test>\r\nDATA\r\n".encode()


def _content(n: int) -> bytes:
    return RAWS[n] + b".\r\n"


def _stream(answers: Sequence[bytes], count: int = 3, *, chain: bool = True
            ) -> tuple[list[object], ScriptedTransport, Pipeline, Client]:
    """Send the first `count` messages in order over one pipeline (each naming the next as
    `then` when `chain`); the server gives `answers`, one per write."""
    pending = list(answers)
    transport = ScriptedTransport(lambda _: pending.pop(0) if pending else b"")
    client = Client(transport)
    pipeline = Pipeline(client, timeout=TIMEOUT, final_timeout=FINAL_TIMEOUT)  # type: ignore[arg-type]

    async def run() -> list[object]:
        outcomes: list[object] = []
        for n in range(count):
            then = ENVELOPES[n + 1] if chain and n + 1 < count else None
            try:
                outcomes.append(await pipeline.transact(ENVELOPES[n], RAWS[n], then))
            except (Unsent, Unanswered) as exc:
                outcomes.append(exc)
        return outcomes

    return asyncio.run(run()), transport, pipeline, client


def test_each_message_after_the_first_costs_one_write_and_one_answer() -> None:
    outcomes, transport, pipeline, client = _stream(
        [OK_ENVELOPE, QUEUED + OK_ENVELOPE, QUEUED + OK_ENVELOPE, QUEUED])
    assert outcomes == [None, None, None]
    assert transport.written == [
        _envelope_bytes(0),
        _content(0) + _envelope_bytes(1),
        _content(1) + _envelope_bytes(2),
        _content(2),
    ]
    assert not pipeline.ahead and not transport.closed
    assert transport.protocol is client.protocol  # aiosmtplib's protocol is back


def test_without_a_next_message_each_costs_two_writes() -> None:
    outcomes, transport, _, _ = _stream([OK_ENVELOPE, QUEUED] * 3, chain=False)
    assert outcomes == [None, None, None]
    assert len(transport.written) == 6


def test_a_message_refused_at_its_final_dot_does_not_stop_the_next() -> None:
    outcomes, transport, _, client = _stream(
        [OK_ENVELOPE, b"552 5.3.4 too big\r\n" + OK_ENVELOPE, QUEUED], count=2)
    assert outcomes[0] == Refusal("final", (outcomes[0].replies[0],))  # type: ignore[union-attr]
    assert outcomes[1] is None
    assert transport.written[1:] == [_content(0) + _envelope_bytes(1), _content(1)]
    assert transport.protocol is client.protocol


def test_a_refused_next_envelope_is_reset_and_the_third_starts_afresh() -> None:
    refused = b"250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n"
    outcomes, transport, _, _ = _stream(
        [OK_ENVELOPE, QUEUED + refused, b"250 2.0.0 Ok\r\n", OK_ENVELOPE, QUEUED])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], Refusal) and outcomes[1].stage == "recipients"
    assert transport.written == [
        _envelope_bytes(0),
        _content(0) + _envelope_bytes(1),
        b"RSET\r\n",  # no content was written for the refused one
        _envelope_bytes(2),
        _content(2),
    ]


def test_no_answer_to_the_final_dot_leaves_the_next_message_unsent() -> None:
    outcomes, transport, pipeline, _ = _stream([OK_ENVELOPE, b""], count=2)
    assert isinstance(outcomes[0], Unanswered)
    assert isinstance(outcomes[1], Unsent)  # its content never went out
    assert transport.written == [_envelope_bytes(0), _content(0) + _envelope_bytes(1)]
    assert transport.closed and not pipeline.ahead


def test_abandoning_with_an_envelope_on_its_way_closes_without_a_dot() -> None:
    pending = [OK_ENVELOPE, QUEUED + OK_ENVELOPE]
    transport = ScriptedTransport(lambda _: pending.pop(0) if pending else b"")
    client = Client(transport)
    pipeline = Pipeline(client, timeout=TIMEOUT, final_timeout=FINAL_TIMEOUT)  # type: ignore[arg-type]
    assert asyncio.run(pipeline.transact(ENVELOPES[0], RAWS[0], ENVELOPES[1])) is None
    assert pipeline.ahead
    pipeline.abandon()
    assert transport.closed and not pipeline.ahead
    assert transport.written == [_envelope_bytes(0), _content(0) + _envelope_bytes(1)]
    assert transport.protocol is client.protocol


def test_a_message_other_than_the_one_announced_is_not_sent() -> None:
    pending = [OK_ENVELOPE, QUEUED + OK_ENVELOPE]
    transport = ScriptedTransport(lambda _: pending.pop(0) if pending else b"")
    pipeline = Pipeline(Client(transport), timeout=TIMEOUT,  # type: ignore[arg-type]
                        final_timeout=FINAL_TIMEOUT)

    async def run() -> None:
        await pipeline.transact(ENVELOPES[0], RAWS[0], ENVELOPES[1])
        with pytest.raises(Unsent, match="another message"):
            await pipeline.transact(ENVELOPES[2], RAWS[2])

    asyncio.run(run())
    assert transport.closed
    assert len(transport.written) == 2  # nothing of the third message


def test_a_connection_that_ends_after_the_next_envelope_was_answered_is_unsent() -> None:
    """The server answered the next envelope, then the connection ended before its content
    was handed over: not delivered, so the message is tried again at once (not "maybe")."""
    pending = [OK_ENVELOPE, QUEUED + OK_ENVELOPE]
    transport = ScriptedTransport(lambda _: pending.pop(0) if pending else b"")
    client = Client(transport)
    pipeline = Pipeline(client, timeout=TIMEOUT, final_timeout=FINAL_TIMEOUT)  # type: ignore[arg-type]

    async def run() -> None:
        await pipeline.transact(ENVELOPES[0], RAWS[0], ENVELOPES[1])
        loop = asyncio.get_running_loop()
        loop.call_soon(transport.get_protocol().connection_lost, None)  # arrives meanwhile
        with pytest.raises(Unsent):
            await pipeline.transact(ENVELOPES[1], RAWS[1])

    asyncio.run(run())
    assert transport.written == [_envelope_bytes(0), _content(0) + _envelope_bytes(1)]
