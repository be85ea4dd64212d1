"""SMTP PIPELINING (RFC 2920) against the real Postfix: two round trips a message, one when
it follows another, the same outcomes as one command at a time, and a session that goes on
after every refusal.

Round trips are counted, not timed: the loopback proxy counts the client's turns (what it
sends after the server last spoke), read once the session has logged in and again before its
QUIT, so only the messages' own round trips are counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Any, NamedTuple

import pytest

from boundary_mail import outbox, smtp
from boundary_mail.config import SmtpConfig
from boundary_mail.store import Store
from tests.integration.agency import Agency
from tests.integration.proxy import Proxy, proxy

NOW = datetime(2026, 12, 1, 4, tzinfo=UTC)
UNKNOWN = "zoe@agency.test"  # not a mailbox of the test domain: Postfix answers 550 to RCPT
POSTFIX_SIZE_LIMIT = 10_240_000  # the test Postfix's message_size_limit (its default)


@pytest.fixture
def smtp_proxy(mailserver: Any) -> Iterator[Proxy]:
    with proxy(mailserver.host, mailserver.smtps_port) as p:
        yield p


def _config(agency: Agency, p: Proxy, *, pipelining: bool = True, **more: Any) -> SmtpConfig:
    agency.data["smtp"].update(port=p.port, pipelining=pipelining, **more)
    agency.write()
    return agency.config.smtp


class Message(NamedTuple):
    raw: bytes
    recipients: Sequence[str]
    envelope_from: str = "assistant@agency.test"


def _mail(n: int, *, to: str = "ann@agency.test", body: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "assistant@agency.test"
    msg["To"] = to
    msg["Subject"] = f"Pipelined {n}"
    msg["Message-ID"] = f"<pipelined-{n}@agency.test>"
    msg["Date"] = "Tue, 01 Dec 2026 04:00:00 +0000"  # or Postfix adds one
    msg.set_content(body if body is not None else f"Message {n}.\n")
    return msg.as_bytes(policy=SMTP_POLICY)


def _send_all(config: SmtpConfig, password: str,
              messages: Sequence[tuple[bytes, Sequence[str]] | Message], *,
              p: Proxy | None = None, chained: bool = False,
              ) -> list[Exception | list[str] | None]:
    """Send each message over one session (`chained`: naming the next one, as the outbox
    does); what each send raised, or the recipients it says were passed over (None: taken
    for all). With `p`, the client turns the sends took are appended to `_taken` (set-up
    and QUIT excluded)."""

    async def run() -> list[Exception | list[str] | None]:
        outcomes: list[Exception | list[str] | None] = []
        queue = [Message(*m) for m in messages]
        async with smtp.session(config, password) as session:
            before = p.turns[-1] if p else 0
            for n, message in enumerate(queue):
                then = queue[n + 1] if chained and n + 1 < len(queue) else None
                try:
                    passed_over = await session.send(message, then)
                except smtp.MailboxUnavailable as exc:
                    outcomes.append(exc)
                else:
                    outcomes.append(passed_over or None)
            if p:
                _taken.append(p.turns[-1] - before)
        return outcomes

    return asyncio.run(run())


_taken: list[int] = []


def _turns(p: Proxy, config: SmtpConfig, password: str,
           messages: Sequence[tuple[bytes, Sequence[str]]], *, chained: bool = False) -> int:
    """The client turns (round trips) that sending these messages took on one session,
    counted between its log-in and its QUIT (whose own turns vary with TLS close timing)."""
    outcomes = _send_all(config, password, messages, p=p, chained=chained)
    assert outcomes == [None] * len(messages)
    return _taken.pop()


def _delivered(mailserver: Any, user: str, count: int) -> dict[str, bytes]:
    """The raw bytes (as IMAP gives them, CRLF) of the user's INBOX by Message-ID, once
    `count` arrived; a duplicate would show as a count mismatch."""
    mailserver.wait_for(user, count)
    with mailserver.imap(user) as client:
        client.select_folder("INBOX", readonly=True)
        data = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
    raws = [item[b"BODY[]"] for item in data.values()]
    found: dict[str, bytes] = {}
    for raw in raws:
        (line,) = [h for h in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                   if h.lower().startswith(b"message-id:")]
        found[line.split(b":", 1)[1].strip().decode()] = raw
    assert len(found) == len(raws) == count, sorted(found)
    return found


# ------------------------------------------------------------------------- round trips


def test_a_pipelined_message_costs_two_round_trips(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy,
) -> None:
    """Postfix offers PIPELINING: MAIL, RCPT (each) and DATA go in one write, the message in
    a second, whatever the number of recipients. Without pipelining each command waits for
    its answer: four round trips a message, one more per extra recipient."""
    password = mailserver.users["assistant"]
    one = [(_mail(n), ["ann@agency.test"]) for n in range(3)]
    two = [(_mail(n + 10), ["ann@agency.test", "bob@agency.test"]) for n in range(3)]

    config = _config(agency, smtp_proxy)
    assert _turns(smtp_proxy, config, password, []) == 0
    assert _turns(smtp_proxy, config, password, one) == 2 * 3
    assert _turns(smtp_proxy, config, password, two) == 2 * 3

    one = [(_mail(n + 20), ["ann@agency.test"]) for n in range(3)]
    two = [(_mail(n + 30), ["ann@agency.test", "bob@agency.test"]) for n in range(3)]
    config = _config(agency, smtp_proxy, pipelining=False)
    assert _turns(smtp_proxy, config, password, one) == 4 * 3
    assert _turns(smtp_proxy, config, password, two) == (4 + 1) * 3
    assert len(_delivered(mailserver, "ann", 12)) == 12
    assert len(_delivered(mailserver, "bob", 6)) == 6


def test_a_stream_of_messages_costs_one_round_trip_each_after_the_first(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy,
) -> None:
    """Each message's content goes out with the next message's MAIL, RCPT and DATA (RFC 2920
    §3.1: the content may start a group), whose answers come back with the content's: a
    queue of five costs 2 + 1 × 4 round trips, whatever the number of recipients."""
    password = mailserver.users["assistant"]
    one = [(_mail(n), ["ann@agency.test"]) for n in range(5)]
    two = [(_mail(n + 10), ["ann@agency.test", "bob@agency.test"]) for n in range(5)]
    config = _config(agency, smtp_proxy)
    assert _turns(smtp_proxy, config, password, one, chained=True) == 2 + 4
    assert _turns(smtp_proxy, config, password, two, chained=True) == 2 + 4
    assert len(_delivered(mailserver, "ann", 10)) == 10
    assert len(_delivered(mailserver, "bob", 5)) == 5


# ------------------------------------------------------------------ every outcome, then on


def test_every_recipient_refused_is_refused_for_good_and_the_session_goes_on(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy,
) -> None:
    config = _config(agency, smtp_proxy)
    refused, sent = _send_all(config, mailserver.users["assistant"], [
        (_mail(1, to=UNKNOWN), [UNKNOWN]), (_mail(2), ["ann@agency.test"])])
    assert isinstance(refused, smtp.SendRefused)
    assert "the recipient was refused (550 5.1.1 <zoe@agency.test>" in str(refused)
    assert sent is None
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-2@agency.test>"]
    assert smtp_proxy.accepted == 1  # one connection carried both


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_message_refused_at_data_is_refused_for_good_and_the_next_one_goes_out(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy, pipelining: bool,
) -> None:
    """The test Postfix refuses one envelope sender at the DATA command, after MAIL and RCPT
    were taken. The transaction is reset then: without RSET the next MAIL gets "503 nested
    MAIL command", and the message after it would be refused for good."""
    config = _config(agency, smtp_proxy, pipelining=pipelining)
    refused, sent = _send_all(config, mailserver.users["assistant"], [
        Message(_mail(1), ["ann@agency.test"], "refused-at-data@agency.test"),
        (_mail(2), ["ann@agency.test"]),
    ])
    assert isinstance(refused, smtp.SendRefused)
    assert "554 5.7.1" in str(refused) and "refused at DATA" in str(refused)
    assert sent is None
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-2@agency.test>"]
    assert smtp_proxy.accepted == 1


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_refused_recipient_does_not_stop_the_others_and_is_named(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy, pipelining: bool,
) -> None:
    config = _config(agency, smtp_proxy, pipelining=pipelining)
    passed_over, second = _send_all(config, mailserver.users["assistant"], [
        (_mail(1), [UNKNOWN, "ann@agency.test", "bob@agency.test"]),
        (_mail(2), ["ann@agency.test"]),
    ])
    assert second is None
    assert isinstance(passed_over, list) and len(passed_over) == 1, passed_over
    assert passed_over[0].startswith(f"{UNKNOWN} (550 5.1.1 "), passed_over
    assert sorted(_delivered(mailserver, "ann", 2)) == [
        "<pipelined-1@agency.test>", "<pipelined-2@agency.test>"]
    assert list(_delivered(mailserver, "bob", 1)) == ["<pipelined-1@agency.test>"]
    assert smtp_proxy.accepted == 1


def test_the_outbox_reports_a_recipient_the_server_would_not_take(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy, caplog: pytest.LogCaptureFixture,
) -> None:
    """An alert to Ann and to an address the server refuses: Ann gets it, the message
    counts as sent (it is not sent again), and the window's errors and log name who did
    not get it and why."""
    _config(agency, smtp_proxy)
    config = agency.config
    store = Store(config.state_file)
    try:
        store.add_action(dedupe_key="alert", kind="alert", source_message_id="",
                         envelope_from="assistant@agency.test",
                         recipients=["ann@agency.test", UNKNOWN], outgoing_message_id="a",
                         raw=_mail(1), on_sent={}, now=NOW)
        result = asyncio.run(outbox.drain(config, store, NOW))
    finally:
        store.close()
    assert (result.sent, result.failed, result.uncertain) == (1, 0, 0)
    (error,) = result.errors
    assert "kind=alert" in error and f"would not take {UNKNOWN} (550 5.1.1 " in error, error
    assert error in caplog.text
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-1@agency.test>"]


def test_a_message_over_the_size_limit_is_refused_at_mail_and_never_sent(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy,
) -> None:
    """SIZE= on MAIL FROM: Postfix answers 552 at once; the RCPT and DATA already written are
    answered (503) and ignored, the body never goes out, RSET readies the next message."""
    config = _config(agency, smtp_proxy)
    huge = _mail(1, body=("x" * 76 + "\n") * (POSTFIX_SIZE_LIMIT // 77 + 100))
    assert len(huge) > POSTFIX_SIZE_LIMIT
    refused, sent = _send_all(config, mailserver.users["assistant"], [
        (huge, ["ann@agency.test"]), (_mail(2), ["ann@agency.test"])])
    assert isinstance(refused, smtp.SendRefused)
    assert "the message was refused (552 5.3.4 Message size exceeds fixed limit)" in str(refused)
    assert sent is None
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-2@agency.test>"]
    smtp_proxy.settled()
    assert smtp_proxy.accepted == 1 and smtp_proxy.client_bytes[0] < 100_000


def test_a_server_that_hangs_up_mid_envelope_means_try_again(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy,
) -> None:
    """Postfix answers 421 and hangs up after 20 errors in a session (smtpd_hard_error_limit):
    pipelined RCPTs to 25 unknown addresses meet that. Nothing was sent; the next session
    sends the next message."""
    config = _config(agency, smtp_proxy)
    unknown = [f"nobody{n}@agency.test" for n in range(25)]
    (trouble,) = _send_all(config, mailserver.users["assistant"], [(_mail(1), unknown)])
    assert isinstance(trouble, smtp.ConnectionTrouble)
    assert "sending failed (" in str(trouble) and "will try again" in str(trouble)
    assert _send_all(config, mailserver.users["assistant"], [(_mail(2), ["ann@agency.test"])]
                     ) == [None]
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-2@agency.test>"]


# -------------------------------------------------------------- the connection lost


def _cut_at(p: Proxy, config: SmtpConfig, password: str, turn: int,
            action: str = "cut") -> list[Exception | None]:
    """Send one message; the proxy cuts (or mutes) the connection when the server answers
    the message's `turn`-th turn (1: the pipelined commands, 2: the message)."""

    async def run() -> list[Exception | None]:
        async with smtp.session(config, password) as session:
            p.on_answer_to(p.turns[-1] + turn, action)  # type: ignore[arg-type]
            try:
                await session.send(Message(_mail(1), ["ann@agency.test"]))
            except smtp.MailboxUnavailable as exc:
                return [exc]
            return [None]

    return asyncio.run(run())


@pytest.mark.parametrize("action", ["cut", "mute"])
def test_no_answer_after_the_message_means_maybe_delivered(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy, action: str,
) -> None:
    """The message went out whole and Postfix took it, but its answer never came back (the
    connection cut, or silence until final_reply_timeout_seconds): maybe delivered."""
    config = _config(agency, smtp_proxy, final_reply_timeout_seconds=1)
    (outcome,) = _cut_at(smtp_proxy, config, mailserver.users["assistant"], 2, action)
    assert isinstance(outcome, smtp.MaybeDelivered), outcome
    assert "no answer after the message was handed over" in str(outcome)
    if action == "mute":
        assert "(no answer within 1 s)" in str(outcome)
    else:
        assert "closed the connection" in str(outcome) or "connection lost" in str(outcome)
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-1@agency.test>"]


def test_a_connection_lost_before_the_message_means_try_again(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy,
) -> None:
    config = _config(agency, smtp_proxy)
    (outcome,) = _cut_at(smtp_proxy, config, mailserver.users["assistant"], 1)
    assert isinstance(outcome, smtp.ConnectionTrouble), outcome
    assert not isinstance(outcome, smtp.MaybeDelivered)
    assert "will try again" in str(outcome)
    # Nothing was delivered: a later message is the only one that arrives.
    assert _send_all(config, mailserver.users["assistant"], [(_mail(2), ["ann@agency.test"])]
                     ) == [None]
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-2@agency.test>"]


# ------------------------------------------------------------------------ a big drain


def test_a_drain_of_fifty_goes_over_one_pipelined_session_once_and_intact(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy,
) -> None:
    """The outbox drains fifty queued messages, some with lines that start with a dot
    (dot-stuffed on the way, restored by the server) and one of 3 MB, plus two the server
    refuses (unknown recipient, too big) in between, over one connection, about one round
    trip each: each of the fifty arrives once, byte for byte; the refused two are failed for
    good."""
    bodies = {
        n: f"Line one of {n}.\n.\n..two dots\n.dot first\n" + ("." if n % 2 else "end") + "\n"
        for n in range(50)
    }
    bodies[7] = "".join(f".{i:07d} {'z' * 60}\n" for i in range(45_000))  # ~3 MB
    queued = [(f"ok:{n}", _mail(n, body=body), ["ann@agency.test"])
              for n, body in bodies.items()]
    queued.insert(10, ("unknown", _mail(100, to=UNKNOWN), [UNKNOWN]))
    queued.insert(30, ("huge", _mail(101, body=("x" * 76 + "\n") * 140_000), ["ann@agency.test"]))
    _config(agency, smtp_proxy, sessions=1)  # one connection, however long the queue
    config = agency.config
    store = Store(config.state_file)
    try:
        for key, raw, recipients in queued:
            store.add_action(dedupe_key=key, kind="alert", source_message_id="",
                             envelope_from="assistant@agency.test", recipients=recipients,
                             outgoing_message_id=key, raw=raw, on_sent={}, now=NOW)
        result = asyncio.run(outbox.drain(config, store, NOW))
        assert (result.sent, result.failed, result.uncertain) == (50, 2, 0)
        assert {a.dedupe_key for a in store.actions() if a.status == "failed"} == {
            "unknown", "huge"}
    finally:
        store.close()
    smtp_proxy.settled()
    assert smtp_proxy.accepted == 1
    # One round trip a message (the outbox names the next one to each send), plus the
    # log-in, QUIT and the two refusals' resets: about 110 if each message took two.
    (turns,) = smtp_proxy.turns
    assert turns <= len(queued) + 12, turns
    delivered = _delivered(mailserver, "ann", 50)
    for key, raw, _ in queued:
        if key.startswith("ok:"):
            assert delivered[f"<pipelined-{key[3:]}@agency.test>"].endswith(raw), key
    assert len(queued[7][1]) > 3_000_000 and queued[7][0] == "ok:7"


def test_pipelining_over_starttls_too(agency: Agency, mailserver: Any) -> None:
    """The reader takes over the transport STARTTLS put in place, and gives it back."""
    with proxy(mailserver.host, mailserver.smtp_port) as p:
        config = _config(agency, p, security="starttls")
        assert _turns(p, config, mailserver.users["assistant"],
                      [(_mail(1), ["ann@agency.test"])]) == 2
        refused, sent = _send_all(config, mailserver.users["assistant"], [
            (_mail(2, to=UNKNOWN), [UNKNOWN]), (_mail(3), ["ann@agency.test"])])
        assert isinstance(refused, smtp.SendRefused) and sent is None
    assert sorted(_delivered(mailserver, "ann", 2)) == [
        "<pipelined-1@agency.test>", "<pipelined-3@agency.test>"]


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_recipient_put_off_4xx_does_not_stop_the_others(
    agency: Agency, mailserver: Any, smtp_proxy: Proxy, pipelining: bool,
) -> None:
    """Postfix takes 1,000 recipients a message (smtpd_recipient_limit) and puts off the
    next with 452 4.5.3: the message goes to those taken, on either path, and the session
    goes on (here all 1,001 are Ann, whom Postfix delivers to once)."""
    config = _config(agency, smtp_proxy, pipelining=pipelining)
    assert _send_all(config, mailserver.users["assistant"], [
        (_mail(1), ["ann@agency.test"] * 1001), (_mail(2), ["bob@agency.test"])]
    ) == [["ann@agency.test (452 4.5.3 Error: too many recipients)"], None]
    assert list(_delivered(mailserver, "ann", 1)) == ["<pipelined-1@agency.test>"]
    assert list(_delivered(mailserver, "bob", 1)) == ["<pipelined-2@agency.test>"]
