"""Replies go out while the window still reads: a batch's auto-replies are handed to the
outbox as soon as the batch is committed, so a slow mailbox does not hold up the others'
replies, and the sending overlaps the reading (issue 11). An SMTP session that has nothing to
send for a while is closed and opened again when more mail comes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from boundary_mail import imap, outbox
from boundary_mail.outbox import Outbox
from boundary_mail.store import Store
from tests.integration.agency import Agency, at, client_mail, wait_until
from tests.integration.proxy import proxy


def _auto_replies(mailserver: Any) -> list[str]:
    return [str(m["In-Reply-To"]) for m in mailserver.messages("catchall")
            if str(m["X-Boundary-Mail"] or "").startswith("auto-reply")]


def test_a_reply_goes_out_while_another_mailbox_hangs(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bob's IMAP server hangs (a 120 s timeout); Maria's reply from Ann's mailbox arrives
    while the window still waits for Bob's. Only then does the test end the hang; Bob's
    mailbox is reported, Maria got exactly one reply."""
    monkeypatch.setattr(imap, "CONNECT_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(imap, "CONNECT_BACKOFF_MAX_SECONDS", 0.2)
    assert agency.poll(at(0, 8)) == 0
    deliver("ann", client_mail(subject="Logo", message_id="<early@acme.test>"), at(0, 9))
    with proxy(mailserver.host, mailserver.imaps_port, mode="stall") as hung:
        for box in agency.data["mailboxes"]:
            if box["name"] == "bob":
                box["port"], box["timeout_seconds"] = hung.port, 120
        agency.write()
        outcome: list[int] = []
        window = threading.Thread(target=lambda: outcome.append(agency.poll(at(0, 10))))
        window.start()
        try:
            wait_until(lambda: _auto_replies(mailserver) == ["<early@acme.test>"],
                        "Maria's reply delivered")
            assert window.is_alive(), "the window ended before Bob's server was let go"
            assert hung.accepted >= 1  # the window is in Bob's mailbox, waiting
        finally:
            hung.set_mode("drop")  # the hang ends: Bob's read fails now
            window.join(timeout=120)
    assert not window.is_alive()
    assert outcome == [1]  # Bob's mailbox could not be read
    health = {h.mailbox: h for h in agency.store().mailbox_health()}
    assert "bob" in health["bob"].error and health["ann"].error == ""
    assert _auto_replies(mailserver) == ["<early@acme.test>"]
    assert not agency.store().pending_actions()


def test_an_idle_session_is_closed_and_a_new_one_takes_later_mail(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mail offered after the outbox's session went idle goes out over a new session; each
    message once."""
    monkeypatch.setattr(outbox, "IDLE_SECONDS", 0.2)
    assert agency.poll(at(0, 8)) == 0
    for n in (1, 2):
        deliver("ann", client_mail(sender=f"p{n}@acme.test", subject=f"Idle {n}",
                                   message_id=f"<idle-{n}@acme.test>"), at(0, 9, n))
    # Queue the two replies without sending them: the window's sending is switched off.
    monkeypatch.setattr("boundary_mail.execute.StoreExecutor.drain", _no_drain)
    monkeypatch.setattr("boundary_mail.execute.StoreExecutor._send_soon", lambda *a: None)
    assert agency.poll(at(0, 10)) == 0
    with proxy(mailserver.host, mailserver.smtps_port) as relay:
        agency.data["smtp"]["port"] = relay.port
        agency.write()
        config = agency.config
        store = Store(config.state_file)
        first, second = sorted(store.pending_actions(), key=lambda a: a.id)

        async def feed() -> outbox.DrainResult:
            box = Outbox(config, store, at(0, 10))
            box.open()
            box.offer([first])
            await asyncio.to_thread(wait_until, lambda: len(_auto_replies(mailserver)) == 1,
                                    "the first reply delivered")
            await asyncio.to_thread(wait_until, lambda: relay.open_connections == 0,
                                    "the idle session closed")
            box.offer([second, first])  # the first again: it is not sent twice
            return await box.close()

        try:
            result = asyncio.run(feed())
        finally:
            store.close()
    assert (result.sent, result.failed, result.errors) == (2, 0, [])
    assert relay.accepted == 2
    wait_until(lambda: len(_auto_replies(mailserver)) == 2, "the second reply delivered")
    assert sorted(_auto_replies(mailserver)) == ["<idle-1@acme.test>", "<idle-2@acme.test>"]


async def _no_drain(self: Any) -> outbox.DrainResult:
    return outbox.DrainResult()


def test_a_server_that_takes_one_connection_gets_the_whole_queue_over_it(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """45 replies wait, so the outbox opens more sessions (up to smtp.sessions = 4); the
    server (a provider's limit per user) hangs up on every connection beyond the first. The
    extra sessions give up quietly and the first one sends everything: nothing is paused,
    nothing is reported as an error."""
    # The extra sessions use up their tries while the first one is still sending.
    monkeypatch.setattr(outbox, "RETRY_BACKOFF_SECONDS", 0.001)
    monkeypatch.setattr(outbox, "RETRY_BACKOFF_MAX_SECONDS", 0.002)
    agency.data["smtp"]["sessions"] = 4
    agency.write()
    assert agency.poll(at(0, 8)) == 0
    senders = [f"p{n}@acme.test" for n in range(45)]
    for n, sender in enumerate(senders):
        deliver("ann", client_mail(sender=sender, subject=f"Burst {n}",
                                   message_id=f"<burst-{n}@acme.test>"), at(0, 9))
    monkeypatch.setattr("boundary_mail.execute.StoreExecutor.drain", _no_drain)
    monkeypatch.setattr("boundary_mail.execute.StoreExecutor._send_soon", lambda *a: None)
    assert agency.poll(at(0, 10)) == 0
    with proxy(mailserver.host, mailserver.smtps_port) as relay:
        relay.max_clients = 1
        agency.data["smtp"]["port"] = relay.port
        agency.write()
        config = agency.config
        store = Store(config.state_file)
        try:
            result = asyncio.run(outbox.drain(config, store, at(0, 10)))
            left = store.pending_actions()
        finally:
            store.close()
    assert (result.sent, result.failed, result.errors, left) == (45, 0, [], [])
    # Both extra sessions were tried, and turned away each time.
    assert relay.turned_away == 2 * outbox.RETRY_ATTEMPTS
    wait_until(lambda: len(_auto_replies(mailserver)) == 45, "45 replies delivered")
    assert sorted(_auto_replies(mailserver)) == sorted(f"<burst-{n}@acme.test>"
                                                       for n in range(45))
