"""The daemon as systemd runs it: notify protocol, SIGHUP reload, clean SIGTERM stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boundary_mail.daemon import sd_notify

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
    assert "reload refused, keeping the running configuration" in log
    assert "schedule.check_windows" in log
    assert "stopping" in log


def test_a_window_with_server_trouble_is_retried_sooner_and_sooner_never_past_the_next() -> None:
    """10, 20, then 40 minutes after each failed try; never at or after the next scheduled
    window (it tries anyway), never more than three times."""
    from datetime import UTC, datetime, timedelta

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
