"""Backups of the state file, taken by boundary-mail itself, and restoring one.

A backup is a consistent copy made with SQLite's online backup API while the state is in use,
checked (`PRAGMA quick_check`) under a temporary name and renamed into place:
`<state_dir>/backups/state-YYYYMMDD.sqlite3`, 0600 in a 0700 directory. At most one is taken
per local day (one that exists for the day is left alone) and the newest `KEEP_BACKUPS` are
kept. Only a state file that opened cleanly is ever copied, so a broken file never pushes a
good backup out.

Restoring refuses while boundary-mail runs (its lock file is held), checks the backup's
integrity and schema version first, moves the broken file aside (never deletes it), copies the
backup in 0600 and takes the old file's `-wal` and `-shm` away, so they are not applied to it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from boundary_mail.store.migrations import SCHEMA_VERSION
from boundary_mail.store.schema import Database, StateError, fsync

if TYPE_CHECKING:
    from boundary_mail.config import Config

log = logging.getLogger(__name__)

KEEP_BACKUPS = 7
BACKUP_DIR = "backups"
LOCK_FILE = "boundary-mail.lock"
_NAME = re.compile(r"state-(\d{8})\.sqlite3")


@dataclass(frozen=True)
class Backup:
    path: Path
    day: date
    size: int


@dataclass(frozen=True)
class Restored:
    """What `restore_backup` did, for the operator to read."""

    backup: Path
    state_file: Path
    moved_aside: list[tuple[Path, Path]]  # (from, to): the broken file and its -wal
    removed: list[Path]  # its -shm (an index, no data)


def backup_dir(state_dir: Path) -> Path:
    return state_dir / BACKUP_DIR


def list_backups(state_dir: Path) -> list[Backup]:
    """The backups in `<state_dir>/backups`, newest first."""
    found = []
    try:
        entries = list(backup_dir(state_dir).iterdir())
    except OSError:
        return []
    for path in entries:
        match = _NAME.fullmatch(path.name)
        if match is None:
            continue
        try:
            day = datetime.strptime(match[1], "%Y%m%d").date()
            size = path.stat().st_size
        except (ValueError, OSError):
            continue
        found.append(Backup(path, day, size))
    return sorted(found, key=lambda b: b.day, reverse=True)


def make_backup(store_or_path: Database | Path, now: datetime) -> Path:
    """Today's backup (the day is `now`'s date in its own time zone: pass it in the configured
    one); made now unless it exists. Older backups beyond `KEEP_BACKUPS` are removed."""
    if isinstance(store_or_path, Database):
        return _backup(store_or_path, now)
    db = Database(store_or_path)  # opened (and so checked) before it is copied
    try:
        return _backup(db, now)
    finally:
        db.close()


def daily(config: Config, now: datetime, store: Database | None = None) -> Path | None:
    """The day's backup for the daemon and `poll`: never raises, a failure is logged."""
    try:
        if store is None and not config.state_file.exists():
            return None  # nothing recorded yet
        return make_backup(store or config.state_file, now.astimezone(config.tz))
    except Exception as exc:  # a failed backup must never stop a window or a digest
        log.error("state backup failed: %s", exc)
        return None


def _backup(db: Database, now: datetime) -> Path:
    directory = backup_dir(db.path.parent)
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    target = directory / f"state-{now:%Y%m%d}.sqlite3"
    if target.exists():
        return target
    temp = directory / f".{target.name}.tmp-{os.getpid()}"
    temp.unlink(missing_ok=True)
    try:
        os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        copy = sqlite3.connect(temp, isolation_level=None)
        try:
            db.copy_to(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            (result,) = copy.execute("PRAGMA quick_check").fetchone()
        finally:
            copy.close()
        if result != "ok":
            raise StateError(f"{db.path}: the backup copy failed its check ({result})")
        fsync(temp)
        os.replace(temp, target)
        fsync(directory)
    finally:
        temp.unlink(missing_ok=True)
    for old in list_backups(db.path.parent)[KEEP_BACKUPS:]:
        old.path.unlink(missing_ok=True)
    log.info("state backup written: %s", target)
    return target


def way_back(state_file: Path) -> str:
    """How to get the state back: the newest backup and the command that restores it."""
    backups = list_backups(state_file.parent)
    if not backups:
        return (
            f"There is no backup in {backup_dir(state_file.parent)} (boundary-mail writes one a"
            " day once it runs). Put back a copy of the file if you have one, while"
            " boundary-mail is stopped; without one, removing the file starts boundary-mail"
            " empty, and the last day's mail is answered again."
        )
    newest = backups[0]
    return (
        f"Restore the newest backup, {newest.path} (of {newest.day:%Y-%m-%d}), while"
        " boundary-mail is stopped:\n"
        "  boundary-mail restore-state\n"
        "(with the same --config, if you give one; `boundary-mail restore-state --list` shows"
        f" every backup; the broken file is kept as {state_file.name}.broken-<time>)."
    )


def schema_version_of(path: Path) -> int | None:
    """The schema version a backup holds, or None if it cannot be read."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else None
    except sqlite3.Error:
        return None
    finally:
        db.close()


def restore_backup(backup: Path, state_file: Path, now: datetime) -> Restored:
    """Put `backup` in place of the state file. Refused while boundary-mail holds its lock,
    and for a backup that fails its integrity check or has a newer schema."""
    directory = state_file.parent
    with _lock_held(directory / LOCK_FILE):
        temp = directory / f".{state_file.name}.restore-{os.getpid()}"
        temp.unlink(missing_ok=True)
        try:
            _copy(backup, temp)
            _check_backup(backup, temp)
            stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            moved, removed = _move_aside(state_file, stamp)
            os.replace(temp, state_file)
            fsync(directory)
        finally:
            temp.unlink(missing_ok=True)
    return Restored(backup, state_file, moved, removed)


@contextmanager
def _lock_held(lock: Path) -> Iterator[None]:
    """Hold boundary-mail's state lock while restoring; refuse if another process holds it
    (the holder writes "pid, since, what it does" into the file)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        yield  # no state directory yet: nothing can be running on it
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            lines = os.pread(fd, 300, 0).decode(errors="replace").splitlines()
            holder = (
                f"{lines[2]} is running (pid {lines[0]}, since {lines[1]})" if len(lines) >= 3
                else "boundary-mail is running"
            )
            raise StateError(
                f"{holder}: {lock} is held, and the state file is not replaced under it. Stop"
                " boundary-mail (systemctl stop boundary-mail), let a running poll end, then"
                " restore"
            ) from None
        yield
    finally:
        os.close(fd)


def _copy(source: Path, target: Path) -> None:
    try:
        with source.open("rb") as src:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
    except OSError as exc:
        raise StateError(f"{source}: cannot copy the backup ({exc.strerror})") from None


def _check_backup(backup: Path, copy: Path) -> None:
    """The copy is sound and of a schema this boundary-mail can open (an older one is
    upgraded when it is next opened)."""
    try:
        db = sqlite3.connect(copy, isolation_level=None)
        try:
            (result,) = db.execute("PRAGMA integrity_check").fetchone()
            row = db.execute("SELECT version FROM schema_version").fetchone()
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StateError(f"{backup}: not a usable backup ({exc}); try an older one") from None
    if result != "ok":
        raise StateError(f"{backup}: the backup fails its integrity check ({result}); try an"
                         " older one")
    version = int(row[0]) if row else 0
    if not 0 < version <= SCHEMA_VERSION:
        raise StateError(
            f"{backup}: the backup has schema version {version}; this boundary-mail reads 1 to"
            f" {SCHEMA_VERSION}"
        )


def _move_aside(state_file: Path, stamp: str) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """The broken state file (and its -wal, whose changes belong to it) renamed beside it;
    its -shm, an index of the -wal, removed. Nothing of the broken file is deleted."""
    moved: list[tuple[Path, Path]] = []
    removed: list[Path] = []
    aside = state_file.with_name(f"{state_file.name}.broken-{stamp}")
    n = 1
    while os.path.lexists(aside):  # restored twice in one second: never overwrite
        n += 1
        aside = state_file.with_name(f"{state_file.name}.broken-{stamp}-{n}")
    for suffix in ("", "-wal"):
        source = state_file.with_name(state_file.name + suffix)
        if os.path.lexists(source):
            target = aside.with_name(aside.name + suffix)
            os.rename(source, target)
            moved.append((source, target))
    shm = state_file.with_name(state_file.name + "-shm")
    if os.path.lexists(shm):
        shm.unlink()
        removed.append(shm)
    return moved, removed

