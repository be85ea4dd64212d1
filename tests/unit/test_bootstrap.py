"""scripts/bootstrap.sh waits for another apt/dpkg run's lock, a bounded time, saying so."""

from __future__ import annotations

import fcntl
import subprocess
import threading
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "bootstrap.sh"


def wait_for_apt(lock: Path, limit: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"source {SCRIPT}; wait_for_apt"],
        env={"PATH": "/usr/bin:/bin", "BM_APT_LOCKS": str(lock),
             "BM_APT_WAIT_SECONDS": str(limit)},
        capture_output=True, text=True, timeout=60,
    )


def test_a_held_dpkg_lock_is_waited_for(tmp_path: Path) -> None:
    """While another process holds the lock (fcntl, as dpkg does) bootstrap waits and says
    so; once it is released, it goes on."""
    lock = tmp_path / "lock-frontend"
    lock.touch()
    with lock.open("r+b") as held:
        fcntl.lockf(held, fcntl.LOCK_EX)
        release = threading.Timer(3, fcntl.lockf, (held, fcntl.LOCK_UN))
        release.start()
        done = wait_for_apt(lock, 30)
        release.join()
    assert done.returncode == 0, done.stderr
    assert "holds its lock; waiting (at most 30 s)" in done.stderr


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    """A lock held longer than the limit ends the wait with a message, not a hang."""
    lock = tmp_path / "lock-frontend"
    lock.touch()
    with lock.open("r+b") as held:
        fcntl.lockf(held, fcntl.LOCK_EX)
        done = wait_for_apt(lock, 2)
    assert done.returncode == 1
    assert "still holds its lock after 2 s" in done.stderr


def test_a_free_lock_costs_no_wait(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    lock.touch()
    done = wait_for_apt(lock, 2)
    assert done.returncode == 0 and done.stderr == ""
