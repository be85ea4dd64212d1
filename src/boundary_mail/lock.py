"""One state directory, one writer: an OS-level lock beside the state file.

Every command that writes the state (a window, the urgent scan, the digest, `ack`, a restore)
holds an exclusive `flock` on `<state_dir>/boundary-mail.lock` while it works. The kernel drops
the lock when the process ends, however it ends, so a crashed holder never blocks anyone. A
second process waits a bounded time, then gives up with a message that names the holder:
"a check window is running (pid 4242, since 10:00:03 UTC); try again in a minute". The
holder's pid and what it does are written into the lock file for exactly that message.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

from boundary_mail.errors import UserError

LOCK_NAME = "boundary-mail.lock"
POLL_SECONDS = 0.1


class StateBusy(UserError):
    """Another process is writing the state; nothing was done."""


class StateLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def try_acquire(self, doing: str) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")  # noqa: TID251 - shell
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{since}\n{doing}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def holder(self) -> str:
        """What the holder wrote: "a check window is running (pid 4242, since …)"."""
        try:
            pid, since, doing = self.path.read_text().splitlines()[:3]
        except (OSError, ValueError):
            return "another boundary-mail process is writing the state"
        return f"{doing} is running (pid {pid}, since {since})"

    def busy(self, doing: str) -> StateBusy:
        return StateBusy(
            f"{self.holder()}; {doing} waits for it. Try again in a minute (the state"
            f" directory {self.path.parent} has one writer at a time)"
        )


@contextlib.contextmanager
def holding(state_dir: Path, doing: str, *, wait_seconds: float) -> Iterator[None]:
    """Hold the state lock for `doing`, waiting at most `wait_seconds` for it."""
    lock = StateLock(state_dir)
    deadline = time.monotonic() + wait_seconds
    while not lock.try_acquire(doing):
        if time.monotonic() >= deadline:
            raise lock.busy(doing)
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        lock.release()


@contextlib.asynccontextmanager
async def holding_async(state_dir: Path, doing: str, *, wait_seconds: float
                        ) -> AsyncIterator[None]:
    """The same for the daemon: waiting does not block its event loop."""
    lock = StateLock(state_dir)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not lock.try_acquire(doing):
        if loop.time() >= deadline:
            raise lock.busy(doing)
        await asyncio.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        lock.release()
