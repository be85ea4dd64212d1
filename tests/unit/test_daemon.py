"""The daemon as systemd runs it: notify protocol, SIGHUP reload, clean SIGTERM stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boundary_mail.config import Config
from boundary_mail.daemon import (
    LAST_WINDOW_FILE,
    MISSED_WINDOW_JOB,
    Daemon,
    read_last_window,
    record_last_window,
    sd_notify,
)
from boundary_mail.report import WindowReport
from boundary_mail.store import Store
from tests.unit.factories import agency, berlin

CONFIG = """
timezone = "Europe/Berlin"
state_dir = "{state}"
[schedule]
check_windows = ["10:00", "15:00"]
[smtp]
host = "127.0.0.1"
port = 1
from_address = "assistant@agency.test"
[[mailboxes]]
name = "ann"
host = "127.0.0.1"
port = 1
owner = "ann@agency.test"
[team]
lead = "ann@agency.test"
members = [{{ name = "Ann", address = "ann@agency.test" }}]
"""


def _receive(sock: socket.socket, wanted: str, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if any(wanted in s for s in seen):
            return seen
    raise AssertionError(f"never received {wanted!r}; got {seen}")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        yield sock


def test_sd_notify_is_silent_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False


def test_daemon_speaks_notify_reloads_and_stops(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    """READY once scheduled; WATCHDOG pings; a bad config on SIGHUP is refused and the daemon
    keeps running; SIGTERM stops it with exit code 0."""
    config = tmp_path / "bm.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state"))
    env = {
        **os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "boundary_mail", "--config", str(config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        _receive(notify_socket, "READY=1")
        _receive(notify_socket, "WATCHDOG=1", timeout=5)
        config.write_text(config.read_text().replace('"10:00"', '"25:00"'))
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert proc.poll() is None, "a bad config on reload must not stop the daemon"
        proc.send_signal(signal.SIGTERM)
        _receive(notify_socket, "STOPPING=1")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stdout.read() if proc.stdout else ""
    if proc.stdout:
        proc.stdout.close()
    assert "scheduled check window 10:00" in log
    assert "next run None" not in log
    assert "account check: mailbox 'ann': FAILED" in log  # port 1: refused, logged, running
    assert "reload refused, keeping the running configuration" in log
    assert "schedule.check_windows" in log
    assert "stopping" in log


def test_a_window_with_server_trouble_is_retried_sooner_and_sooner_never_past_the_next() -> None:
    """10, 20, then 40 minutes after each failed try; never at or after the next scheduled
    window (it tries anyway), never more than three times."""
    from boundary_mail.daemon import RETRY_AFTER, retry_time

    ten = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    three = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
    assert [retry_time(ten, n, three) for n in range(4)] == [
        ten + timedelta(minutes=10), ten + timedelta(minutes=20), ten + timedelta(minutes=40),
        None,
    ]
    assert len(RETRY_AFTER) == 3
    assert retry_time(three - timedelta(minutes=10), 0, three) is None  # 15:00 comes first
    assert retry_time(three - timedelta(minutes=11), 0, three) == three - timedelta(minutes=1)
    assert retry_time(ten, 0, None) == ten + timedelta(minutes=10)


# -- missed windows: the daemon with a fake clock and a stand-in window ------------------------


class _Windows:
    """Stands in for `Window`: records the `now` of each run; `fail` makes runs raise."""

    def __init__(self) -> None:
        self.runs: list[datetime] = []
        self.fail = False

    def __call__(self, config: Config, store: Store) -> _Windows:
        return self

    async def run(self, now: datetime) -> WindowReport:
        self.runs.append(now)
        if self.fail:
            raise RuntimeError("a bug in the window")
        return WindowReport(now)


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> _Windows:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    fake = _Windows()
    monkeypatch.setattr("boundary_mail.daemon.Window", fake)
    return fake


def _daemon(tmp_path: Path, now: datetime) -> Daemon:
    """A daemon of the test agency (windows 10:00 and 15:00, Mon-Fri, German holidays) whose
    clock reads `now`."""
    daemon = Daemon("unused.toml", agency(state_dir=str(tmp_path / "state")))
    daemon.clock = lambda: now
    return daemon


def _ran_last(tmp_path: Path, when: datetime) -> None:
    record_last_window(tmp_path / "state", when)


async def test_the_window_missed_at_10_runs_at_once_when_started_at_10_03(
    tmp_path: Path, windows: _Windows
) -> None:
    """Down at 10:00 on Thursday, started at 10:03: the 10:00 window runs at once, with the
    real clock as its `now`, once; the record then says 10:00 (a file of mode 0600)."""
    _ran_last(tmp_path, berlin(25, 15))
    daemon = _daemon(tmp_path, berlin(26, 10, 3))
    await daemon.missed_window_job()
    await daemon.missed_window_job()
    assert windows.runs == [berlin(26, 10, 3)]
    assert read_last_window(tmp_path / "state") == berlin(26, 10)
    assert (tmp_path / "state" / LAST_WINDOW_FILE).stat().st_mode & 0o777 == 0o600
    restarted = _daemon(tmp_path, berlin(26, 10, 5))
    await restarted.missed_window_job()
    assert windows.runs == [berlin(26, 10, 3)], "a restart knows the window ran"


async def test_started_at_16_after_both_windows_were_missed_one_window_runs(
    tmp_path: Path, windows: _Windows
) -> None:
    """Both of Thursday's windows were missed: at 16:00 one window runs (the 15:00 one)."""
    _ran_last(tmp_path, berlin(25, 15))
    daemon = _daemon(tmp_path, berlin(26, 16))
    await daemon.missed_window_job()
    await daemon.missed_window_job()
    assert windows.runs == [berlin(26, 16)]
    assert read_last_window(tmp_path / "state") == berlin(26, 15)


@pytest.mark.parametrize(
    ("day", "hour"),
    [
        pytest.param(30, 9, id="Monday before 10:00 after a Friday outage: nothing of Friday"),
        pytest.param(28, 12, id="a Saturday"),
        pytest.param(29, 16, id="a Sunday"),
    ],
)
async def test_windows_of_earlier_days_weekends_and_holidays_never_run_at_start(
    tmp_path: Path, windows: _Windows, day: int, hour: int
) -> None:
    """The service was down all Friday (the last window that ran was Thursday's 15:00): no
    window runs at start before Monday's 10:00, and none on a weekend."""
    _ran_last(tmp_path, berlin(26, 15))
    await _daemon(tmp_path, berlin(day, hour)).missed_window_job()
    assert windows.runs == []


async def test_no_window_runs_at_start_on_a_public_holiday(
    tmp_path: Path, windows: _Windows
) -> None:
    """Christmas Day 2026 is a Friday, a German public holiday: nothing runs at start."""
    _ran_last(tmp_path, berlin(23, 15, month=12))
    await _daemon(tmp_path, berlin(25, 16, month=12)).missed_window_job()
    assert windows.runs == []


@pytest.mark.parametrize("check_first", [True, False], ids=["check first", "cron first"])
async def test_the_scheduled_window_and_the_missed_window_check_run_it_once(
    tmp_path: Path, windows: _Windows, check_first: bool
) -> None:
    """At 15:00 the cron job and the missed-window check may fire together: one run."""
    _ran_last(tmp_path, berlin(26, 10))
    daemon = _daemon(tmp_path, berlin(26, 15))
    jobs = [daemon.missed_window_job(), daemon.window_job()]
    await asyncio.gather(*(jobs if check_first else reversed(jobs)))
    assert windows.runs == [berlin(26, 15)]


async def test_a_retry_runs_the_window_again_and_a_failed_window_waits_for_a_restart(
    tmp_path: Path, windows: _Windows
) -> None:
    """A retry after server trouble runs the same window again. A window that failed is not
    tried again by the minute-by-minute check, but a restart runs it (it did not complete)."""
    _ran_last(tmp_path, berlin(25, 15))
    daemon = _daemon(tmp_path, berlin(26, 10))
    await daemon.window_job()
    await daemon.window_job(retry=True)
    assert windows.runs == [berlin(26, 10), berlin(26, 10)]
    windows.fail, windows.runs = True, []
    daemon = _daemon(tmp_path, berlin(26, 15, 1))
    await daemon.missed_window_job()
    await daemon.missed_window_job()
    assert windows.runs == [berlin(26, 15, 1)]
    await _daemon(tmp_path, berlin(26, 15, 2)).missed_window_job()
    assert windows.runs == [berlin(26, 15, 1), berlin(26, 15, 2)]


async def test_late_scheduled_windows_fire_once_and_the_check_runs_at_start(
    tmp_path: Path,
) -> None:
    """APScheduler fires a late window once however late (coalesce, no grace limit: the
    calendar decides whether it still runs), and the missed-window check runs at start-up
    and every minute after, so a wake from suspend is noticed."""
    daemon = _daemon(tmp_path, berlin(26, 10))
    daemon.schedule()
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    for window in ("window-1000", "window-1500"):
        assert (jobs[window].coalesce, jobs[window].misfire_grace_time) == (True, None)
    check = jobs[MISSED_WINDOW_JOB]
    assert check.trigger.interval == timedelta(minutes=1)
    assert abs(check.next_run_time.timestamp() - time.time()) < 30  # at start-up


async def test_the_start_up_log_names_each_jobs_next_run_in_the_configured_zone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Logged once the scheduler has started, each job's next run is a time, never None."""
    daemon = _daemon(tmp_path, berlin(26, 10))
    daemon.schedule()
    daemon.scheduler.start(paused=True)
    try:
        with caplog.at_level("INFO", logger="boundary_mail.daemon"):
            daemon.log_schedule()
    finally:
        daemon.scheduler.shutdown(wait=False)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("scheduled")]
    assert any(line.startswith("scheduled check window 10:00; next run 20") for line in lines)
    assert all(line.endswith(("CET", "CEST")) for line in lines), lines
    assert not any("None" in line or "none" in line for line in lines)


async def test_account_checks_are_logged_one_line_each_and_never_stop_the_daemon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A working account logs INFO, a failing one ERROR with its fix; a check that itself
    blows up is logged and the daemon carries on."""
    from boundary_mail.doctor import AccountCheck

    async def checks(config: Config) -> list[AccountCheck]:
        return [AccountCheck("mailbox 'ann'", ("login as 'ann'",)),
                AccountCheck("smtp", (), "SMTP server x:1: cannot connect; check host")]

    monkeypatch.setattr("boundary_mail.daemon.check_accounts", checks)
    daemon = _daemon(tmp_path, berlin(26, 10))
    with caplog.at_level("INFO", logger="boundary_mail.daemon"):
        await daemon.check_accounts()
    found = {(r.levelname, r.getMessage()) for r in caplog.records}
    assert ("INFO", "account check: mailbox 'ann': ok — login as 'ann'") in found
    assert ("ERROR", "account check: smtp: FAILED — SMTP server x:1: cannot connect;"
            " check host") in found

    async def broken(config: Config) -> list[AccountCheck]:
        raise RuntimeError("boom")

    monkeypatch.setattr("boundary_mail.daemon.check_accounts", broken)
    caplog.clear()
    await daemon.check_accounts()  # does not raise
    assert "account check failed; the daemon keeps running" in caplog.text
