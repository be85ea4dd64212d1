"""Send nothing twice: processes that overlap, a "250" that comes too late, a disk that fills
up in the middle of a window. On the real servers; each client and recipient is counted in
what actually arrived."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from boundary_mail import outbox, smtp_pipeline
from boundary_mail.config import load_config
from boundary_mail.daemon import Daemon
from boundary_mail.outbox import drain
from boundary_mail.store import Store
from tests.integration.agency import Agency, client_mail

CLIENTS = [f"client{n}@acme.test" for n in range(1, 7)]


def deliver_clients(deliver: Callable[..., None], at: datetime) -> None:
    for n, sender in enumerate(CLIENTS):
        deliver("ann", client_mail(sender=sender, subject=f"Question {n}",
                                   message_id=f"<q{n}@acme.test>"), at - timedelta(minutes=n))


def replies_per_client(mailserver: Any) -> Counter[str]:
    """Auto-replies that reached each client (Postfix hands outside mail to the catch-all)."""
    return Counter(
        str(m["To"]) for m in mailserver.messages("catchall")
        if str(m["X-Boundary-Mail"] or "").startswith("auto")
    )


def wait_for_replies(mailserver: Any, expected: int) -> Counter[str]:
    mailserver.wait_for("catchall", expected)
    return replies_per_client(mailserver)


def bm(agency: Agency, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "boundary_mail", "--config", str(agency.path), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_a_daemon_window_two_polls_and_two_digests_at_once_send_everything_once(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """The daemon fires a window while two `poll` and two `digest --send` run: every client
    gets exactly one auto-reply and every team member one digest; every process ends well
    (the later ones wait for the state lock, then find nothing left to do)."""
    now = datetime.now(UTC).replace(microsecond=0)  # noqa: TID251 - the daemon reads the clock
    agency.data["schedule"] = {"workdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "check_windows": ["10:00", "15:00"],
                               "business_hours": ["00:00", "23:59"]}
    agency.data["digest"] = {"send_empty": True}
    agency.write()
    deliver_clients(deliver, now - timedelta(hours=1))

    async def everything_at_once() -> list[tuple[int, str]]:
        daemon = Daemon(str(agency.path), agency.config)
        processes = [bm(agency, "poll", "--now", now.isoformat()) for _ in range(2)]
        processes += [bm(agency, "digest", "--now", now.isoformat(), "--send")
                      for _ in range(2)]
        await daemon.window_job()
        outputs = [await asyncio.to_thread(p.communicate, None, 120) for p in processes]
        return [(p.returncode, out) for p, (out, _) in zip(processes, outputs, strict=True)]

    results = asyncio.run(everything_at_once())

    assert all(code == 0 for code, _ in results), results
    assert wait_for_replies(mailserver, len(CLIENTS)) == Counter(CLIENTS)
    for user in ("ann", "bob", "lead"):
        digests = [m for m in mailserver.wait_for(user, 1) if m["X-Boundary-Mail"] == "digest"]
        assert len(digests) == 1, user
    assert replies_per_client(mailserver) == Counter(CLIENTS)  # still: nothing came late


def test_a_second_writer_names_the_one_holding_the_state(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """While a window runs (pid shown), `ack` waits a bounded time, then says who holds the
    state and what it does, and exits 1 without a traceback."""
    from boundary_mail.lock import StateLock

    lock = StateLock(agency.config.state_dir)
    assert lock.try_acquire("a check window")
    try:
        out = subprocess.run(
            [sys.executable, "-c", "import sys; from boundary_mail import cli;"
             " cli.LOCK_WAIT_SECONDS = 0.3; sys.exit(cli.main(sys.argv[1:]))",
             "--config", str(agency.path), "ack", "<x@acme.test>"],
            capture_output=True, text=True, timeout=60,
        )
    finally:
        lock.release()
    assert out.returncode == 1
    assert f"a check window is running (pid {os.getpid()}, since" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_a_claimed_message_is_not_sent_by_a_drain_that_ignores_the_lock(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Two drains on the same state at the same moment (neither takes the lock): each queued
    message is claimed by one of them before it is sent, so each client gets one reply."""
    now = datetime(2026, 11, 16, 10, tzinfo=UTC)
    deliver_clients(deliver, now - timedelta(hours=1))
    config = agency.config
    # Queue without sending: a window whose drain is switched off.
    first, second = Store(config.state_file), Store(config.state_file)
    try:
        from boundary_mail import window as window_module

        async def no_drain(self: Any) -> Any:
            from boundary_mail.outbox import DrainResult
            return DrainResult()

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("boundary_mail.execute.StoreExecutor.drain", no_drain)
            asyncio.run(window_module.Window(config, first).run(now))
        assert len(first.pending_actions()) == len(CLIENTS)

        async def both() -> tuple[Any, Any]:
            return await asyncio.gather(drain(config, first, now), drain(config, second, now))

        one, two = asyncio.run(both())
    finally:
        first.close()
        second.close()
    assert one.sent + two.sent == len(CLIENTS)
    assert wait_for_replies(mailserver, len(CLIENTS)) == Counter(CLIENTS)


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_250_that_comes_too_late_is_never_resent_in_the_window_and_once_after(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    monkeypatch: pytest.MonkeyPatch, pipelining: bool,
) -> None:
    """The server takes the message but its answer to the final dot never comes in time:
    the message may have been delivered. It is not sent again in that window; status says
    so; the next window sends it once more with the same Message-ID; then never again.
    (Pipelined or one command at a time: the answer is lost after the server has the mail.)"""
    agency.data["smtp"]["pipelining"] = pipelining
    agency.write()
    now = datetime(2026, 11, 16, 10, tzinfo=UTC)
    deliver("ann", client_mail(sender="slow@acme.test", message_id="<slow@acme.test>"),
            now - timedelta(hours=1))
    late: list[int] = []

    def answered_too_late(real: Callable[..., Any], lost: Exception,
                          close: Callable[[Any], None]) -> Callable[..., Any]:
        async def send(connection: Any, *args: Any, **kw: Any) -> Any:
            result = await real(connection, *args, **kw)  # the server has it now
            if not late:
                late.append(1)
                close(connection)
                raise lost
            return result

        return send

    monkeypatch.setattr(aiosmtplib.SMTP, "data", answered_too_late(
        aiosmtplib.SMTP.data,
        aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"),
        aiosmtplib.SMTP.close))
    monkeypatch.setattr(smtp_pipeline.Pipeline, "transact", answered_too_late(
        smtp_pipeline.Pipeline.transact, smtp_pipeline.Unanswered("no answer within 600 s"),
        smtp_pipeline.Pipeline.abandon))
    assert agency.poll(now) == 0
    (first,) = wait_for_replies(mailserver, 1).elements()
    store = agency.store()
    try:
        (action,) = store.uncertain_actions()
        assert action.attempts == 1
    finally:
        store.close()
    assert "maybe delivered (no answer after handing it over): 1" in _status(agency)

    assert agency.poll(now + timedelta(hours=5)) == 0
    copies = [m for m in mailserver.wait_for("catchall", 2)]
    assert len(copies) == 2 and copies[0]["Message-ID"] == copies[1]["Message-ID"]
    assert agency.poll(now + timedelta(days=1)) == 0
    assert len(mailserver.messages("catchall")) == 2
    assert first == "slow@acme.test"


def _status(agency: Agency) -> str:
    from boundary_mail.views import format_status

    store = agency.store()
    try:
        return format_status(store, agency.config, datetime(2026, 11, 17, tzinfo=UTC))
    finally:
        store.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs for the state directory, so that it can fill up for real."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    # Unbuffered: a buffered file would flush the bytes that did not fit again on close,
    # and raise there (whether it does depends on how many bytes were free).
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            pass
    return filler


def test_a_disk_that_fills_up_mid_window_sends_nothing_twice_and_loses_nothing(
    agency: Agency, deliver: Callable[..., None], mailserver: Any, small_disk: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The state lives on a small disk that fills up right after the first reply was sent:
    that send cannot be recorded in the database, so it is kept in the reserved journal; the
    window stops sending and says the disk is full, and where. While the disk stays full,
    windows send nothing. Once there is room, the rest is sent: every client exactly once."""
    agency.data["state_dir"] = str(small_disk / "state")
    agency.write()
    now = datetime(2026, 11, 16, 10, tzinfo=UTC)
    deliver_clients(deliver, now - timedelta(hours=1))
    from boundary_mail import smtp

    real_send = smtp.Session.send
    filled: list[Path] = []

    async def send_then_fill(self: smtp.Session, *args: Any) -> None:
        await real_send(self, *args)
        if not filled:
            filled.append(fill(small_disk))

    monkeypatch.setattr(smtp.Session, "send", send_then_fill)
    assert agency.poll(now) == 1
    err = capsys.readouterr()
    assert "disk is full" in err.err + err.out and str(small_disk) in err.err + err.out
    assert "Traceback" not in err.err + err.out
    assert sum(wait_for_replies(mailserver, 1).values()) == 1

    assert agency.poll(now + timedelta(hours=5)) == 1  # still full: nothing is sent
    assert sum(replies_per_client(mailserver).values()) == 1

    filled[0].unlink()
    assert agency.poll(now + timedelta(hours=6)) == 0
    assert wait_for_replies(mailserver, len(CLIENTS)) == Counter(CLIENTS)
    config = load_config(agency.path)
    store = Store(config.state_file)
    try:
        assert {a.status for a in store.actions()} == {"sent"}
        assert len(store.open_items()) == len(CLIENTS)  # every decision survived
    finally:
        store.close()
    shutil.rmtree(small_disk / "state", ignore_errors=True)


def test_several_smtp_sessions_share_the_queue_and_send_each_message_once(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With smtp.sessions = 4 the queue goes out over four connections at once (a remote
    server's round trips are paid in parallel); each message is still claimed by one. (A
    session per waiting message here: by default one opens per 20.)"""
    monkeypatch.setattr(outbox, "MESSAGES_PER_SESSION", 1)
    agency.data["smtp"]["sessions"] = 4
    agency.write()
    now = datetime(2026, 11, 16, 10, tzinfo=UTC)
    deliver_clients(deliver, now - timedelta(hours=1))
    assert agency.poll(now) == 0
    assert wait_for_replies(mailserver, len(CLIENTS)) == Counter(CLIENTS)
    store = agency.store()
    try:
        assert [a.attempts for a in store.actions()] == [1] * len(CLIENTS)
    finally:
        store.close()
