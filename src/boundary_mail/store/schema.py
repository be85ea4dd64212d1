"""The state file itself: opening it safely, its schema and ordered migrations, transactions.

One SQLite database (WAL). It is created 0600 in a 0700 directory and never holds a password.
A newer schema than this boundary-mail knows is refused; an older one is upgraded in place.

Only a state file that does not exist is created, and it is created whole: migrated under a
temporary name and linked into place. So a state file that exists always held a schema, and
one that is now empty (0 bytes), unreadable, or without its schema version lost what it knew
(the replies already sent, what is tracked, the rate-limit history). Starting afresh over it
would answer the last day's mail again; it is refused, naming the newest backup and the
command that restores it (`store.backup`). A file SQLite cannot read or write because of a
permission is named with the permission and the fix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boundary_mail.errors import UserError
from boundary_mail.store.access import access_problems
from boundary_mail.store.migrations import MIGRATIONS, SCHEMA_VERSION

CHUNK = 500  # bound parameters per IN (...) list: well under SQLite's limit



class StateError(UserError):
    """The state file cannot be used as it is."""


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(s: str) -> datetime:
    return datetime.fromisoformat(s)


def chunks(values: Iterable[str]) -> Iterator[tuple[list[str], str]]:
    """Distinct values in chunks, each with its `?, ?, …` placeholders (values stay bound)."""
    distinct = list(dict.fromkeys(values))
    for start in range(0, len(distinct), CHUNK):
        chunk = distinct[start : start + CHUNK]
        yield chunk, ",".join("?" * len(chunk))


# -- opening the file: what is refused, and why -------------------------------------------------


def refusal(path: Path, what: str) -> StateError:
    """The state file existed and lost what it knew: say so, and the way back."""
    from boundary_mail.store.backup import way_back  # backup builds on this module

    return StateError(
        f"{path}: {what}. boundary-mail does not start afresh over it: that would answer the"
        f" last day's mail again and forget what is tracked and the rate-limit history.\n"
        f"{way_back(path)}"
    )


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StateError(
            f"{directory}: cannot create the state directory ({exc.strerror}); create it owned"
            f" by uid {os.geteuid()} with mode 0700"
        ) from None


def _create(path: Path) -> None:
    """A new state file, migrated under a temporary name (0600 from the start) and linked
    into place, so a state file that exists has always held a schema."""
    wal = _beside(path, "-wal")
    if wal.exists() and wal.stat().st_size:
        raise refusal(path, f"the state file is missing but its write-ahead log {wal} is there")
    problems = access_problems(path)
    if problems:
        raise StateError("\n".join(problems))
    new = path.with_name(f".{path.name}.new-{os.getpid()}")
    new.unlink(missing_ok=True)
    try:
        os.close(os.open(new, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        db = sqlite3.connect(new, isolation_level=None)
        try:
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            _upgrade(db, 0)
        finally:
            db.close()
        fsync(new)
        with suppress(FileExistsError):  # another process made it a moment ago: open that
            os.link(new, path)
        fsync(path.parent)
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"{path}: cannot create the state file ({exc})") from None
    finally:
        new.unlink(missing_ok=True)


def _upgrade(db: sqlite3.Connection, current: int) -> None:
    """Apply the migrations after `current`, each in its own transaction."""
    for version in range(current + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _check_existing(path: Path) -> None:
    try:
        st = path.stat()
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state file ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise StateError(f"{path}: the state file is not a regular file; remove what is there")
    if st.st_size == 0:
        raise refusal(path, "the state file is empty (0 bytes)")
    problems = access_problems(path)
    if problems:
        raise StateError("\n".join(problems))


def _open_failed(path: Path, exc: sqlite3.Error) -> StateError:
    """The error SQLite gave, as the operator can act on it."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        problems = access_problems(path)
        if problems:
            return StateError("\n".join(problems))
        return StateError(f"{path}: SQLite cannot open or write the state file ({exc})")
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return refusal(path, f"the state file is not a readable SQLite database ({exc})")
    if name.startswith("SQLITE_FULL"):
        return StateError(f"{path}: the disk holding the state file is full; free space there")
    return StateError(f"{path}: cannot open the state file ({exc})")


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Database:
    """The connection, its schema and transactions; the record classes build on it."""

    _db: sqlite3.Connection

    def __init__(self, path: Path) -> None:
        self.path = path
        _make_directory(path.parent)
        if not os.path.lexists(path):
            _create(path)
        _check_existing(path)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise _open_failed(path, exc) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # Up to 16 MiB of pages in memory (SQLite's default is 2 MiB): reading a window's
            # queued bytes evicted the pages every claim and "sent" mark then read back
            # (claim + mark 4x slower at 2,000 queued replies).
            self._db.execute("PRAGMA cache_size=-16384")
            self._db.row_factory = sqlite3.Row
            self._depth = 0
            self._relaxed = 0  # inside relaxed_sync: the next transaction is not synced
            self._synchronous = "FULL"  # as the connection is set now
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise _open_failed(path, exc) from None
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def copy_to(self, target: sqlite3.Connection) -> None:
        """A consistent copy of the whole database into `target` (SQLite's online backup)."""
        self._db.backup(target)

    def _migrate(self) -> None:
        tables = {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "schema_version" not in tables:
            what = "holds other tables but no schema version" if tables else "holds no tables"
            raise refusal(self.path, f"the state file {what}")
        row = self._db.execute("SELECT version FROM schema_version").fetchone()
        current = row[0] if row else 0
        if current == 0 and tables - {"schema_version"}:
            raise refusal(self.path, "the state file holds tables but no schema version")
        if current > SCHEMA_VERSION:
            raise StateError(
                f"{self.path}: the state file has schema version {current}, newer than this"
                f" boundary-mail understands ({SCHEMA_VERSION}); upgrade boundary-mail"
            )
        _upgrade(self._db, current)

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT version FROM schema_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One explicit transaction; nested use joins the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._set_synchronous("NORMAL" if self._relaxed else "FULL")
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0
        except sqlite3.OperationalError as exc:
            raise StateError(self._cannot_write(exc)) from None

    def _cannot_write(self, exc: sqlite3.OperationalError) -> str:
        """What a failed write means, in words that say where and what to do."""
        text = str(exc)
        if "full" in text:
            free = shutil.disk_usage(self.path.parent).free
            return (f"{self.path}: cannot write the state file: the disk is full ({free} bytes"
                    f" free in {self.path.parent}); free some space, nothing is lost")
        return f"{self.path}: cannot write the state file ({text})"

    @contextmanager
    def relaxed_sync(self) -> Iterator[None]:
        """Transactions that survive the death of the process but are not synced to disk one
        by one (WAL with synchronous=NORMAL); `sync`, or the next synced commit (which syncs
        the whole log), makes everything before it durable."""
        self._relaxed += 1
        try:
            yield
        finally:
            self._relaxed -= 1

    def _set_synchronous(self, mode: str) -> None:
        """Switched only when it changes: a drain's claims and marks follow one another, and
        the PRAGMA pair around each cost about as much as the claim itself."""
        if mode != self._synchronous:
            self._db.execute(f"PRAGMA synchronous={mode}")
            self._synchronous = mode

    def sync(self) -> None:
        """Sync the write-ahead log to disk: every commit so far survives a power cut. When
        that cannot be done now (a full disk), the commits still stand, only unsynced."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _rows(self, query: str, values: Iterable[str], *before: Any) -> Iterator[sqlite3.Row]:
        """Run `query` (with `{marks}` for an IN list) once per chunk of `values`."""
        for chunk, marks in chunks(values):
            yield from self._db.execute(query.format(marks=marks), (*before, *chunk))
