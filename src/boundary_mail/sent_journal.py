"""Sends the state file could not record: a small journal whose space is reserved in advance.

When the disk fills up between the server's "250" and the "sent" mark, SQLite cannot record
the send. Without a record the message would look unsent (or maybe sent) and go out again.
So before a drain claims anything, it reserves a small file beside the state
(`sent-journal`, `posix_fallocate`): writing a record into space already allocated needs no
new blocks, so it works on a full disk. A send that cannot be marked in the database is
written there; the next drain that can write the database moves the records into it. If the
space cannot be reserved, nothing is claimed and nothing is sent.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

JOURNAL_NAME = "sent-journal"
RECORD = 64  # bytes: "<action id> <claim token>\n", space padded
SLOTS = 64


class SentJournal:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / JOURNAL_NAME

    def reserve(self) -> None:
        """Make sure the journal's space is allocated (raises OSError, e.g. ENOSPC)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, RECORD * SLOTS)
        finally:
            os.close(fd)

    def records(self) -> list[tuple[int, str]]:
        """(action id, claim token) of each send recorded here."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        found = []
        for slot in range(len(data) // RECORD):
            text = data[slot * RECORD : (slot + 1) * RECORD].strip(b"\0 \n").decode()
            action_id, _, token = text.partition(" ")
            if action_id.isdigit() and token:
                found.append((int(action_id), token))
        return found

    def write(self, action_id: int, token: str) -> None:
        """Record one send in the first free slot, durably (no new blocks needed)."""
        used = len(self.records())
        if used >= SLOTS:
            raise OSError(f"{self.path}: no free slot left")
        line = f"{action_id} {token}\n".encode().ljust(RECORD, b" ")
        fd = os.open(self.path, os.O_RDWR)
        try:
            os.pwrite(fd, line, used * RECORD)
            os.fsync(fd)
        finally:
            os.close(fd)

    def clear(self) -> None:
        """Forget the records (zeros over the same space: still reserved)."""
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(self.path, os.O_RDWR)
            try:
                os.pwrite(fd, b"\0" * (RECORD * SLOTS), 0)
                os.fsync(fd)
            finally:
                os.close(fd)
