"""The state file itself: opening it safely, its schema and ordered migrations, transactions.

One SQLite database (WAL). It is created 0600 in a 0700 directory and never holds a password.
A newer schema than this boundary-mail knows is refused; an older one is upgraded in place.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boundary_mail.errors import UserError

SCHEMA_VERSION = 3
CHUNK = 500  # bound parameters per IN (...) list: well under SQLite's limit

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE folders (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL,
        synced_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, folder)
    );
    CREATE TABLE messages (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        message_id TEXT NOT NULL,
        uid INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        sender TEXT,
        subject TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,          -- baseline | decided | skipped
        rule TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, folder, message_id)
    );
    CREATE INDEX messages_by_id ON messages (message_id);
    CREATE TABLE skipped (
        mailbox TEXT NOT NULL,
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        reason TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, folder, uid)
    );
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        dedupe_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,            -- auto_reply | first_contact | contact_note | ...
        source_message_id TEXT NOT NULL,
        envelope_from TEXT NOT NULL,
        recipients TEXT NOT NULL,      -- JSON list
        outgoing_message_id TEXT NOT NULL UNIQUE,
        raw BLOB NOT NULL,
        on_sent TEXT NOT NULL DEFAULT '{}',  -- JSON: bookkeeping done once the send succeeded
        status TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX actions_pending ON actions (status) WHERE status = 'pending';
    CREATE TABLE replies (
        sender TEXT NOT NULL,
        kind TEXT NOT NULL,
        last_sent_at TEXT NOT NULL,
        PRIMARY KEY (sender, kind)
    );
    CREATE TABLE contacts (
        address TEXT PRIMARY KEY,
        first_seen_at TEXT NOT NULL,
        welcomed_at TEXT
    );
    """,
    2: """
    CREATE TABLE items (
        message_id TEXT PRIMARY KEY,   -- the client message being tracked
        mailbox TEXT NOT NULL,         -- where it was first seen
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        sender TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT '',   -- client name, or '' for an unassigned sender (triage)
        owner TEXT NOT NULL,           -- the account manager or triage owner
        subject TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL,
        read_at TEXT NOT NULL,
        deadline TEXT NOT NULL,        -- the answer-by time the auto-reply promised
        urgent INTEGER NOT NULL DEFAULT 0,
        after_hours INTEGER NOT NULL DEFAULT 0,
        routed_from TEXT NOT NULL DEFAULT '',  -- the mailbox owner it reached, if redirected
        ladder_step INTEGER NOT NULL DEFAULT 0,  -- escalation steps queued so far
        status TEXT NOT NULL DEFAULT 'open',     -- open | acknowledged
        acknowledged_at TEXT,
        acknowledged_how TEXT NOT NULL DEFAULT '',  -- reply | answered-flag | manual
        created_at TEXT NOT NULL
    );
    CREATE INDEX items_open ON items (owner) WHERE status = 'open';
    CREATE INDEX items_by_received ON items (received_at);
    CREATE TABLE followups (
        message_id TEXT PRIMARY KEY,   -- the follow-up ("did you get my email?")
        root_id TEXT NOT NULL REFERENCES items (message_id),
        received_at TEXT NOT NULL
    );
    CREATE INDEX followups_by_root ON followups (root_id);
    """,
    # The JSON `on_sent` bookkeeping becomes columns, so the rate limit is an indexed lookup;
    # and each mailbox's last read (or why it failed) is kept for status and the digest.
    3: """
    ALTER TABLE actions ADD COLUMN reply_to TEXT;       -- an auto-reply to this address ...
    ALTER TABLE actions ADD COLUMN reply_kind TEXT;     -- ... of this kind: counts once sent
    ALTER TABLE actions ADD COLUMN note_to TEXT;        -- a contact note to this address
    ALTER TABLE actions ADD COLUMN welcomed TEXT;       -- carries "How we work together"
    ALTER TABLE actions ADD COLUMN ladder_step INTEGER NOT NULL DEFAULT 0;
    UPDATE actions SET
        reply_to = json_extract(on_sent, '$.reply.sender'),
        reply_kind = json_extract(on_sent, '$.reply.kind'),
        note_to = json_extract(on_sent, '$.note.sender'),
        welcomed = json_extract(on_sent, '$.welcomed'),
        ladder_step = coalesce(json_extract(on_sent, '$.ladder.step'), 0);
    ALTER TABLE actions DROP COLUMN on_sent;
    CREATE INDEX actions_pending_replies ON actions (reply_to, reply_kind)
        WHERE status = 'pending' AND reply_to IS NOT NULL;
    CREATE INDEX actions_pending_notes ON actions (note_to)
        WHERE status = 'pending' AND note_to IS NOT NULL;
    CREATE INDEX followups_by_id_root ON followups (message_id, root_id);
    CREATE TABLE mailbox_health (
        mailbox TEXT PRIMARY KEY,
        last_ok_at TEXT,
        failed_at TEXT,                -- set while the last window could not read it
        error TEXT NOT NULL DEFAULT ''
    );
    """,
}


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


class Database:
    """The connection, its schema and transactions; the record classes build on it."""

    _db: sqlite3.Connection

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Create the file 0600 before SQLite opens it, so no other user can ever read it.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{path}: cannot open the state file ({exc}); move it aside to start afresh"
            ) from None
        self._db.row_factory = sqlite3.Row
        self._depth = 0
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self._db.execute("SELECT version FROM schema_version").fetchone()
        current = row[0] if row else 0
        if current > SCHEMA_VERSION:
            raise StateError(
                f"{self.path}: the state file has schema version {current}, newer than this"
                f" boundary-mail understands ({SCHEMA_VERSION}); upgrade boundary-mail"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("DELETE FROM schema_version")
                self._db.execute("INSERT INTO schema_version VALUES (?)", (version,))

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
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def _rows(self, query: str, values: Iterable[str], *before: Any) -> Iterator[sqlite3.Row]:
        """Run `query` (with `{marks}` for an IN list) once per chunk of `values`."""
        for chunk, marks in chunks(values):
            yield from self._db.execute(query.format(marks=marks), (*before, *chunk))
