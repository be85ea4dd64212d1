"""Outages: IMAP or SMTP down, hanging up, hanging, or refusing the login during a window.

Each time the window ends with a clear error line and exit code 1, what was decided stays in
the queue (`pending_actions`), and the next window, with the server back, sends it once.
Short outages are bridged inside the window by the bounded, jittered retries (outbox.drain
for SMTP, imap.connect for IMAP). Servers are stopped for real (`mailserver.stop_smtp()`) or
put behind a loopback proxy (tests/integration/proxy.py) that drops or stalls connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from boundary_mail import imap, outbox
from boundary_mail.daemon import RETRY_JOB, Daemon
from boundary_mail.store import Store
from tests.integration.agency import Agency, at, client_mail
from tests.integration.proxy import Proxy, proxy

TIMEOUT = 2.0  # seconds, for every server in these tests: a stall costs little


CLIENT_IDS = ("<one@acme.test>", "<two@acme.test>", "<tom@globex.test>")


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bounded retries, with short waits, so a test that lets them run out is quick."""
    monkeypatch.setattr(outbox, "RETRY_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(outbox, "RETRY_BACKOFF_MAX_SECONDS", 0.2)
    monkeypatch.setattr(imap, "CONNECT_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(imap, "CONNECT_BACKOFF_MAX_SECONDS", 0.2)


@pytest.fixture
def office(agency: Agency, deliver: Callable[..., None]) -> Agency:
    """Installed on Monday; by Tuesday 10:00 three clients wrote (two to Ann, one to Bob)."""
    for server in [agency.data["smtp"], *agency.data["mailboxes"]]:
        server["timeout_seconds"] = TIMEOUT
    agency.write()
    assert agency.poll(at(0, 8)) == 0
    deliver("ann", client_mail(subject="One", message_id=CLIENT_IDS[0]), at(1, 8))
    deliver("ann", client_mail(sender="bea@acme.test", subject="Two",
                               message_id=CLIENT_IDS[1]), at(1, 8, 30))
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               subject="Three", message_id=CLIENT_IDS[2]), at(1, 9))
    return agency


def _behind(agency: Agency, p: Proxy, *, smtp: bool = False, mailboxes: tuple[str, ...] = ()
            ) -> None:
    """Point the SMTP server and/or the named mailboxes at the proxy."""
    if smtp:
        agency.data["smtp"]["port"] = p.port
    for box in agency.data["mailboxes"]:
        if box["name"] in mailboxes:
            box["port"] = p.port
    agency.write()


@pytest.fixture
def smtp_proxy(mailserver: Any) -> Iterator[Proxy]:
    with proxy(mailserver.host, mailserver.smtps_port) as p:
        yield p


@pytest.fixture
def imap_proxy(mailserver: Any) -> Iterator[Proxy]:
    with proxy(mailserver.host, mailserver.imaps_port) as p:
        yield p


def _replies(mailserver: Any, expected: int) -> dict[str, list[str]]:
    """Auto-replies in the catchall mailbox by In-Reply-To, once `expected` arrived and any
    late duplicate had a moment to show up (LMTP delivery trails SMTP's "250 queued")."""
    deadline = time.monotonic() + 10
    while _count(mailserver) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    found: dict[str, list[str]] = {}
    for msg in mailserver.messages("catchall"):
        if str(msg["X-Boundary-Mail"] or "").startswith("auto-reply"):
            found.setdefault(str(msg["In-Reply-To"]), []).append(str(msg["Message-ID"]))
    return found


def _count(mailserver: Any) -> int:
    return sum(1 for m in mailserver.messages("catchall")
               if str(m["X-Boundary-Mail"] or "").startswith("auto-reply"))


def _assert_each_answered_once(mailserver: Any, ids: tuple[str, ...] = CLIENT_IDS) -> None:
    found = _replies(mailserver, len(ids))
    assert {k: len(v) for k, v in found.items()} == dict.fromkeys(ids, 1)


def _dovecot_back(mailserver: Any) -> None:
    """Start Dovecot again. Postfix's smtpd exits ("no SASL authentication mechanisms") while
    Dovecot's auth socket is gone and its master then throttles smtpd for a minute, so the
    test restarts Postfix too (an operator would see the same after a Dovecot outage)."""
    mailserver.start_imap()
    mailserver.stop_smtp()
    mailserver.start_smtp()


def _pending(agency: Agency) -> set[str]:
    return {a.dedupe_key for a in agency.store().pending_actions()}


def _errors(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("error:")]


ALL_REPLIES = {f"auto_reply:{mid}" for mid in CLIENT_IDS}


# ---------------------------------------------------------------------------- servers stopped


@pytest.mark.usefixtures("fast_retries")
def test_smtp_down_keeps_the_queue_until_it_is_back(
    office: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    capsys.readouterr()
    mailserver.stop_smtp()
    assert office.poll(at(1, 10)) == 1
    (error,) = _errors(capsys.readouterr().out)
    assert f"SMTP server {mailserver.host}:{mailserver.smtps_port}: cannot connect" in error
    assert "will try again" in error
    # Decided and queued, retried a bounded number of times, nothing lost.
    assert _pending(office) == ALL_REPLIES
    assert {i.message_id for i in office.store().open_items()} == set(CLIENT_IDS)
    interrupted = [r for r in caplog.records if "sending interrupted" in r.getMessage()]
    assert len(interrupted) == outbox.RETRY_ATTEMPTS - 1
    assert any("sending paused, 3 message(s) stay queued" in r.getMessage()
               for r in caplog.records)

    mailserver.start_smtp()
    assert office.poll(at(1, 15)) == 0
    assert _pending(office) == set()
    _assert_each_answered_once(mailserver)
    store = office.store()
    assert all(a.status == "sent" for a in store.actions())
    assert max(a.attempts for a in store.actions()) == 2  # one failed window, one send


@pytest.mark.usefixtures("fast_retries")
def test_imap_down_decides_nothing_and_loses_nothing(
    office: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    """Dovecot down also takes Postfix's SASL auth with it: a queued reply meets a temporary
    login failure (454), which is retried and kept, not mistaken for a wrong password."""
    mailserver.stop_smtp()
    assert office.poll(at(1, 10)) == 1  # decided and queued, not sent
    mailserver.start_smtp()
    mailserver.stop_imap()
    capsys.readouterr()
    assert office.poll(at(1, 15)) == 1
    errors = _errors(capsys.readouterr().out)
    where = f"{mailserver.host}:{mailserver.imaps_port}"
    assert any(f"mailbox 'ann' ({where}): cannot connect" in e for e in errors), errors
    for user in ("bob", "lead"):  # the same server: its timeouts are not paid again
        assert any(f"mailbox '{user}': not tried, its server {where} could not be reached"
                   in e for e in errors), errors
    smtp_errors = [e for e in errors if "SMTP server" in e]
    assert smtp_errors and "was refused" not in smtp_errors[0], smtp_errors
    assert _pending(office) == ALL_REPLIES

    _dovecot_back(mailserver)
    assert office.poll(at(2, 10)) == 0
    assert _pending(office) == set()
    _assert_each_answered_once(mailserver)


@pytest.mark.usefixtures("fast_retries")
def test_imap_down_before_anything_was_read(
    office: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    mailserver.stop_imap()
    capsys.readouterr()
    assert office.poll(at(1, 10)) == 1
    out = capsys.readouterr().out
    assert len(_errors(out)) == 3 and "fetched 0, new 0" in out
    assert office.store().open_items() == []  # nothing decided: read again next time
    _dovecot_back(mailserver)
    assert office.poll(at(1, 15)) == 0
    _assert_each_answered_once(mailserver)
    assert {i.message_id for i in office.store().open_items()} == set(CLIENT_IDS)


@pytest.fixture
def tuesday_10(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's clock reads Tuesday 10:00, the time of a scheduled check window."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Clock:
            return cls.fromtimestamp(at(1, 10).timestamp(), tz)

    monkeypatch.setattr("boundary_mail.daemon.datetime", Clock)


@pytest.mark.usefixtures("fast_retries", "tuesday_10")
def test_daemon_window_job_survives_an_outage(
    office: Agency, mailserver: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """The daemon's own window job: errors are reported, the queue kept, nothing raised."""
    daemon = Daemon(str(office.path), office.config)
    daemon.schedule()  # the check windows (10:00 and 15:00), not started
    mailserver.stop_smtp()
    with caplog.at_level(logging.INFO):
        asyncio.run(daemon.window_job())
    assert not [r for r in caplog.records if r.exc_info], "the window raised"
    assert any("sending paused" in r.getMessage() for r in caplog.records)
    assert _pending(office) == ALL_REPLIES
    # Not left until 15:00: the window runs again in 10 minutes.
    retry = daemon.scheduler.get_job(RETRY_JOB)
    assert retry is not None and retry.trigger.run_date == at(1, 10, 10)
    assert any("trying again at 10:10 (retry 1 of 3)" in r.getMessage() for r in caplog.records)
    mailserver.start_smtp()
    caplog.clear()
    asyncio.run(daemon.window_job(retry=True))  # the retry
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _pending(office) == set()
    _assert_each_answered_once(mailserver)
    assert daemon.scheduler.get_job(RETRY_JOB) is None and daemon.retries == 0


@pytest.mark.usefixtures("tuesday_10")
def test_daemon_does_not_retry_a_refused_login(
    office: Agency, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong password will not get better in ten minutes: no retry, no login storm."""
    monkeypatch.setenv("BM_TEST_PW_WRONG", "not-the-password")
    office.data["mailboxes"][0]["password_env"] = "BM_TEST_PW_WRONG"
    office.write()
    daemon = Daemon(str(office.path), office.config)
    daemon.schedule()
    with caplog.at_level(logging.INFO):
        asyncio.run(daemon.window_job())
    assert any("login as 'ann' was refused" in r.getMessage() for r in caplog.records)
    assert daemon.scheduler.get_job(RETRY_JOB) is None and daemon.retries == 0


# ---------------------------------------------------------------------------- wrong password


def test_wrong_smtp_password_is_said_plainly_and_not_retried(
    office: Agency, mailserver: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BM_TEST_PW_WRONG", "not-the-password")
    office.data["smtp"]["password_env"] = "BM_TEST_PW_WRONG"
    office.write()
    capsys.readouterr()
    assert office.poll(at(1, 10)) == 1
    (error,) = _errors(capsys.readouterr().out)
    assert "login as 'assistant' was refused; check the username and the password" in error
    assert "not-the-password" not in error
    assert not [r for r in caplog.records if "sending interrupted" in r.getMessage()]
    assert _pending(office) == ALL_REPLIES

    office.data["smtp"]["password_env"] = "BM_TEST_PW_ASSISTANT"
    office.write()
    assert office.poll(at(1, 15)) == 0
    _assert_each_answered_once(mailserver)


def test_wrong_imap_password_fails_that_mailbox_only(
    office: Agency, mailserver: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BM_TEST_PW_WRONG", "not-the-password")
    office.data["mailboxes"][0]["password_env"] = "BM_TEST_PW_WRONG"  # ann's
    office.write()
    capsys.readouterr()
    assert office.poll(at(1, 10)) == 1
    (error,) = _errors(capsys.readouterr().out)
    assert "mailbox 'ann'" in error and "login as 'ann' was refused" in error
    assert "not-the-password" not in error
    _assert_each_answered_once(mailserver, CLIENT_IDS[2:])  # Bob's mailbox went on

    office.data["mailboxes"][0]["password_env"] = "BM_TEST_PW_ANN"
    office.write()
    assert office.poll(at(1, 15)) == 0
    _assert_each_answered_once(mailserver)


# ---------------------------------------------------------------------------- the proxy


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("mode", ["drop", "stall"])
def test_smtp_dropping_or_stalling_is_bounded_and_kept(
    mode: str, office: Agency, mailserver: Any, smtp_proxy: Proxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _behind(office, smtp_proxy, smtp=True)
    smtp_proxy.set_mode(mode)  # type: ignore[arg-type]
    capsys.readouterr()
    started = time.monotonic()
    assert office.poll(at(1, 10)) == 1
    elapsed = time.monotonic() - started
    # RETRY_ATTEMPTS connections, each bounded by the timeout (a stall waits it out).
    assert smtp_proxy.accepted == outbox.RETRY_ATTEMPTS
    assert elapsed < outbox.RETRY_ATTEMPTS * TIMEOUT + 10, elapsed  # generous: CI is slow
    (error,) = _errors(capsys.readouterr().out)
    assert f"SMTP server {mailserver.host}:{smtp_proxy.port}" in error
    assert "will try again" in error
    assert _pending(office) == ALL_REPLIES

    smtp_proxy.set_mode("forward")
    assert office.poll(at(1, 15)) == 0
    _assert_each_answered_once(mailserver)


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("mode", ["drop", "stall"])
def test_imap_dropping_or_stalling_is_bounded_and_other_mailboxes_go_on(
    mode: str, office: Agency, mailserver: Any, imap_proxy: Proxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _behind(office, imap_proxy, mailboxes=("ann",))
    imap_proxy.set_mode(mode)  # type: ignore[arg-type]
    capsys.readouterr()
    started = time.monotonic()
    assert office.poll(at(1, 10)) == 1
    elapsed = time.monotonic() - started
    assert imap_proxy.accepted == imap.CONNECT_ATTEMPTS
    assert elapsed < imap.CONNECT_ATTEMPTS * TIMEOUT + 10, elapsed  # generous: CI is slow
    (error,) = _errors(capsys.readouterr().out)
    assert f"mailbox 'ann' ({mailserver.host}:{imap_proxy.port})" in error
    _assert_each_answered_once(mailserver, CLIENT_IDS[2:])  # Bob's mailbox went on
    assert _pending(office) == set()

    imap_proxy.set_mode("forward")
    assert office.poll(at(1, 15)) == 0
    _assert_each_answered_once(mailserver)


@pytest.mark.usefixtures("fast_retries")
def test_a_hung_server_is_tried_once_per_window_not_once_per_mailbox(
    office: Agency, mailserver: Any, imap_proxy: Proxy, capsys: pytest.CaptureFixture[str],
) -> None:
    """Ann's and Bob's mailboxes live on the same hung server: its timeouts are paid once
    (CONNECT_ATTEMPTS connections), Bob's mailbox is reported as not tried, and the lead's
    mailbox on another server goes on."""
    _behind(office, imap_proxy, mailboxes=("ann", "bob"))
    imap_proxy.set_mode("stall")
    capsys.readouterr()
    started = time.monotonic()
    assert office.poll(at(1, 10)) == 1
    elapsed = time.monotonic() - started
    assert imap_proxy.accepted == imap.CONNECT_ATTEMPTS
    assert elapsed < imap.CONNECT_ATTEMPTS * TIMEOUT + 10, elapsed
    ann, bob = _errors(capsys.readouterr().out)
    assert f"mailbox 'ann' ({mailserver.host}:{imap_proxy.port})" in ann
    assert "mailbox 'bob': not tried, its server" in bob
    assert _pending(office) == set()

    imap_proxy.set_mode("forward")
    assert office.poll(at(1, 15)) == 0
    _assert_each_answered_once(mailserver)


def test_short_smtp_outage_is_bridged_within_the_window(
    office: Agency, mailserver: Any, smtp_proxy: Proxy, caplog: pytest.LogCaptureFixture,
) -> None:
    """The server comes back 1 s into the window: the default retries (1–2 s, then 2–4 s)
    send everything in the same window."""
    _behind(office, smtp_proxy, smtp=True)
    smtp_proxy.outage("drop", lasting=1.0)
    assert office.poll(at(1, 10)) == 0
    assert any("sending interrupted (attempt 1 of 3)" in r.getMessage()
               for r in caplog.records)
    assert _pending(office) == set()
    _assert_each_answered_once(mailserver)


def test_smtp_connection_lost_mid_queue_resumes_where_it_stopped(
    office: Agency, mailserver: Any, smtp_proxy: Proxy, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the first message is sent and recorded the connection is cut; the retry opens a
    new one and sends the rest: each message exactly once, in the same window."""
    _behind(office, smtp_proxy, smtp=True)
    original = Store.mark_sent
    calls = []

    def mark_sent(self: Store, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            smtp_proxy.cut()

    monkeypatch.setattr(Store, "mark_sent", mark_sent)
    assert office.poll(at(1, 10)) == 0
    assert smtp_proxy.accepted == 2  # one reconnection
    assert _pending(office) == set()
    _assert_each_answered_once(mailserver)


def test_short_imap_outage_is_bridged_within_the_window(
    office: Agency, mailserver: Any, imap_proxy: Proxy, caplog: pytest.LogCaptureFixture,
) -> None:
    _behind(office, imap_proxy, mailboxes=("ann", "bob", "lead"))
    imap_proxy.outage("drop", lasting=1.0)
    assert office.poll(at(1, 10)) == 0
    assert any("attempt 1 of 3" in r.getMessage() for r in caplog.records)
    _assert_each_answered_once(mailserver)


@pytest.mark.parametrize("cut_after", ["select", "commit", "sent"])
def test_imap_connection_lost_mid_window_is_reopened_and_the_window_completes(
    cut_after: str, office: Agency, mailserver: Any, imap_proxy: Proxy,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """Ann's connection is cut once: after the inbox was opened (nothing read or committed
    yet), after her new mail was committed (the \\Answered check and the Sent folder still to
    come), or as the Sent folder is opened. The window opens a second session and finishes:
    every client is answered once in this window, not five hours later."""
    _behind(office, imap_proxy, mailboxes=("ann",))
    cuts: list[int] = []

    def cut_once() -> None:
        if not cuts and imap_proxy.accepted:
            cuts.append(1)
            imap_proxy.cut()

    if cut_after in ("select", "sent"):
        select = imap.select

        def select_then_cut(*args: Any, **kwargs: Any) -> Any:
            # Mailboxes are read concurrently: only Ann's session (behind the proxy) is cut.
            ann = args[0].port == imap_proxy.port
            if ann and cut_after == "sent" and args[1] == "Sent":
                cut_once()  # lost just as the Sent folder is opened: not a missing folder
            status = select(*args, **kwargs)
            if ann and cut_after == "select":
                cut_once()
            return status

        monkeypatch.setattr(imap, "select", select_then_cut)
    else:
        set_folder_state = Store.set_folder_state

        def commit_then_cut(self: Store, *args: Any, **kwargs: Any) -> None:
            set_folder_state(self, *args, **kwargs)
            if args[0] == "ann":
                cut_once()

        monkeypatch.setattr(Store, "set_folder_state", commit_then_cut)
    assert office.poll(at(1, 10)) == 0
    assert cuts == [1]
    assert imap_proxy.accepted == 2  # Ann's first session and the one that finished it
    assert any("connection was lost during the window" in r.getMessage()
               for r in caplog.records)
    assert _pending(office) == set()
    _assert_each_answered_once(mailserver)
    assert office.poll(at(1, 15)) == 0  # nothing left over, nothing answered twice
    _assert_each_answered_once(mailserver)

