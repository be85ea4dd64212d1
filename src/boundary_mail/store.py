"""The state file: one SQLite database (WAL), all SQL of the project in this module.

What the core decided and the mail it will send are written in one transaction together with
the folder's new high-water mark, before anything is sent. A crash therefore either loses the
whole batch (it is fetched and decided again) or keeps all of it (the sender drains it later).
The file is created 0600 in a 0700 directory; it never holds a password.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boundary_mail.errors import UserError
from boundary_mail.tracking import TrackedItem

SCHEMA_VERSION = 2

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
}


class StateError(UserError):
    """The state file cannot be used as it is."""


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True, slots=True)
class StoredAction:
    id: int
    kind: str
    dedupe_key: str
    source_message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    outgoing_message_id: str
    raw: bytes
    on_sent: dict[str, Any]
    status: str
    attempts: int
    last_error: str
    created_at: datetime


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds")


def _from_iso(s: str) -> datetime:
    return datetime.fromisoformat(s)


class Store:
    """All reads and writes of the state file."""

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

    # -- schema -------------------------------------------------------------------------
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

    # -- folders ------------------------------------------------------------------------
    def folder_state(self, mailbox: str, folder: str) -> FolderState | None:
        row = self._db.execute(
            "SELECT uidvalidity, last_uid FROM folders WHERE mailbox = ? AND folder = ?",
            (mailbox, folder),
        ).fetchone()
        return FolderState(row[0], row[1]) if row else None

    def set_folder_state(
        self, mailbox: str, folder: str, state: FolderState, now: datetime
    ) -> None:
        self._db.execute(
            "INSERT INTO folders VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox, folder) DO UPDATE"
            " SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,"
            " synced_at = excluded.synced_at",
            (mailbox, folder, state.uidvalidity, state.last_uid, _iso(now)),
        )

    # -- messages -----------------------------------------------------------------------
    def known_message_ids(self, mailbox: str, folder: str, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))  # placeholders only; values are bound
            query = f"SELECT message_id FROM messages WHERE mailbox = ? AND folder = ? AND message_id IN ({marks})"  # noqa: E501, S608
            found.update(r[0] for r in self._db.execute(query, (mailbox, folder, *chunk)))
        return found

    def record_message(
        self,
        *,
        mailbox: str,
        folder: str,
        message_id: str,
        uid: int,
        received_at: datetime,
        sender: str | None,
        subject: str,
        status: str,
        rule: str = "",
        reason: str = "",
        now: datetime,
    ) -> bool:
        """Remember a message; False if this folder already had one with the same Message-ID."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (mailbox, folder, message_id, uid, _iso(received_at), sender, subject, status,
             rule, reason, _iso(now)),
        )
        return cursor.rowcount == 1

    def record_baseline(
        self, messages: Iterable[tuple[str, str, str, int, datetime, str | None, str]],
        contacts: Iterable[str], *, reason: str, now: datetime,
    ) -> None:
        """Many messages at once as the baseline, each (mailbox, folder, message_id, uid,
        received_at, sender, subject), and the addresses they came from as known contacts.
        One statement each, not one per message: a first sync may bring 100,000."""
        stamp = _iso(now)
        self._db.executemany(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, 'baseline', '', ?, ?)",
            ((box, folder, mid, uid, _iso(received), sender, subject, reason, stamp)
             for box, folder, mid, uid, received, sender, subject in messages),
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO contacts (address, first_seen_at) VALUES (?, ?)",
            ((address, stamp) for address in contacts),
        )

    def update_uid(self, mailbox: str, folder: str, message_id: str, uid: int) -> None:
        self._db.execute(
            "UPDATE messages SET uid = ? WHERE mailbox = ? AND folder = ? AND message_id = ?",
            (uid, mailbox, folder, message_id),
        )

    def record_skip(
        self, *, mailbox: str, folder: str, uid: int, reason: str, now: datetime
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?, ?)",
            (mailbox, folder, uid, reason, _iso(now)),
        )

    def message_count(self, status: str | None = None) -> int:
        if status is None:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])
        return int(
            self._db.execute("SELECT count(*) FROM messages WHERE status = ?", (status,))
            .fetchone()[0]
        )

    def skipped(self) -> list[sqlite3.Row]:
        return list(self._db.execute("SELECT * FROM skipped ORDER BY recorded_at, uid"))

    def decisions(self) -> list[sqlite3.Row]:
        return list(
            self._db.execute(
                "SELECT * FROM messages WHERE status = 'decided' ORDER BY received_at"
            )
        )

    # -- actions ------------------------------------------------------------------------
    def add_action(
        self,
        *,
        dedupe_key: str,
        kind: str,
        source_message_id: str,
        envelope_from: str,
        recipients: Iterable[str],
        outgoing_message_id: str,
        raw: bytes,
        on_sent: dict[str, Any],
        now: datetime,
    ) -> bool:
        """Queue one outgoing message; False when the same action was queued before."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO actions (dedupe_key, kind, source_message_id, envelope_from,"
            " recipients, outgoing_message_id, raw, on_sent, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (dedupe_key, kind, source_message_id, envelope_from, json.dumps(list(recipients)),
             outgoing_message_id, raw, json.dumps(on_sent), _iso(now)),
        )
        return cursor.rowcount == 1

    def has_action(self, dedupe_key: str) -> bool:
        row = self._db.execute("SELECT 1 FROM actions WHERE dedupe_key = ?", (dedupe_key,))
        return row.fetchone() is not None

    def _action(self, row: sqlite3.Row) -> StoredAction:
        return StoredAction(
            id=row["id"],
            kind=row["kind"],
            dedupe_key=row["dedupe_key"],
            source_message_id=row["source_message_id"],
            envelope_from=row["envelope_from"],
            recipients=tuple(json.loads(row["recipients"])),
            outgoing_message_id=row["outgoing_message_id"],
            raw=bytes(row["raw"]),
            on_sent=json.loads(row["on_sent"]),
            status=row["status"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            created_at=_from_iso(row["created_at"]),
        )

    def pending_actions(self) -> list[StoredAction]:
        rows = self._db.execute("SELECT * FROM actions WHERE status = 'pending' ORDER BY id")
        return [self._action(r) for r in rows]

    def actions(self, kind: str | None = None) -> list[StoredAction]:
        if kind is None:
            rows = self._db.execute("SELECT * FROM actions ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM actions WHERE kind = ? ORDER BY id", (kind,))
        return [self._action(r) for r in rows]

    def mark_sent(self, action: StoredAction, now: datetime) -> None:
        """Record a successful send and its bookkeeping (the reply rate limit) atomically."""
        with self.transaction():
            self._db.execute(
                "UPDATE actions SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
                " last_error = '' WHERE id = ?",
                (_iso(now), action.id),
            )
            # An auto-reply, and a contact note (on its own or inside an auto-reply), count
            # against their sender's period only once they really went out.
            for mark in ("reply", "note"):
                sent = action.on_sent.get(mark)
                if sent:
                    self._db.execute(
                        "INSERT INTO replies VALUES (?, ?, ?) ON CONFLICT (sender, kind)"
                        " DO UPDATE SET last_sent_at = excluded.last_sent_at",
                        (sent["sender"], sent["kind"], _iso(now)),
                    )
            welcomed = action.on_sent.get("welcomed")
            if welcomed:
                self._db.execute(
                    "INSERT INTO contacts VALUES (?, ?, ?) ON CONFLICT (address) DO UPDATE"
                    " SET welcomed_at = excluded.welcomed_at",
                    (welcomed, _iso(now), _iso(now)),
                )

    def mark_attempt_failed(self, action: StoredAction, error: str, *, final: bool) -> None:
        self._db.execute(
            "UPDATE actions SET attempts = attempts + 1, last_error = ?, status = ?"
            " WHERE id = ?",
            (error[:500], "failed" if final else "pending", action.id),
        )

    # -- auto-reply rate limit --------------------------------------------------------------
    def last_reply_at(self, sender: str, kind: str) -> datetime | None:
        row = self._db.execute(
            "SELECT last_sent_at FROM replies WHERE sender = ? AND kind = ?", (sender, kind)
        ).fetchone()
        return _from_iso(row[0]) if row else None

    def reply_queued(self, sender: str, kind: str) -> bool:
        """True while an auto-reply to this sender waits in the queue (not yet sent)."""
        row = self._db.execute(
            "SELECT 1 FROM actions WHERE status = 'pending' AND ((json_extract(on_sent,"
            " '$.reply.sender') = ?1 AND json_extract(on_sent, '$.reply.kind') = ?2) OR"
            " (json_extract(on_sent, '$.note.sender') = ?1 AND"
            " json_extract(on_sent, '$.note.kind') = ?2))",
            (sender, kind),
        ).fetchone()
        return row is not None

    # -- contacts -------------------------------------------------------------------------
    def is_known_contact(self, address: str) -> bool:
        row = self._db.execute("SELECT 1 FROM contacts WHERE address = ?", (address,))
        return row.fetchone() is not None

    def record_contact(self, address: str, now: datetime) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO contacts (address, first_seen_at) VALUES (?, ?)",
            (address, _iso(now)),
        )

    # -- tracked items ----------------------------------------------------------------------
    def add_item(self, item: TrackedItem, now: datetime) -> bool:
        """Start tracking a client message; False if it is tracked already."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO items (message_id, mailbox, folder, uid, sender, client,"
            " owner, subject, received_at, read_at, deadline, urgent, after_hours, routed_from,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item.message_id, item.mailbox, item.folder, item.uid, item.sender, item.client,
             item.owner, item.subject, _iso(item.received_at), _iso(item.read_at),
             _iso(item.deadline), int(item.urgent), int(item.after_hours), item.routed_from,
             _iso(now)),
        )
        return cursor.rowcount == 1

    def add_followup(self, message_id: str, root_id: str, received_at: datetime) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO followups VALUES (?, ?, ?)",
            (message_id, root_id, _iso(received_at)),
        )
        return cursor.rowcount == 1

    def is_tracked(self, message_id: str) -> bool:
        """A tracked item or a counted follow-up: this message is handled already."""
        row = self._db.execute(
            "SELECT 1 FROM items WHERE message_id = ?1 UNION ALL"
            " SELECT 1 FROM followups WHERE message_id = ?1",
            (message_id,),
        ).fetchone()
        return row is not None

    def open_root(self, thread_ids: Iterable[str]) -> str | None:
        """The open item that any of these Message-IDs is, or is a follow-up of."""
        ids = list(dict.fromkeys(thread_ids))[-50:]  # a References chain can be long
        if not ids:
            return None
        marks = ",".join("?" * len(ids))  # placeholders only; values are bound
        row = self._db.execute(
            f"SELECT message_id FROM items WHERE status = 'open' AND message_id IN ({marks})"  # noqa: S608
            f" UNION SELECT f.root_id FROM followups f JOIN items i ON i.message_id = f.root_id"
            f" WHERE i.status = 'open' AND f.message_id IN ({marks}) LIMIT 1",
            (*ids, *ids),
        ).fetchone()
        return str(row[0]) if row else None

    def acknowledge(self, root_id: str, at: datetime, how: str) -> bool:
        """Close an open item; False if it was not open (unknown or acknowledged before)."""
        cursor = self._db.execute(
            "UPDATE items SET status = 'acknowledged', acknowledged_at = ?, acknowledged_how = ?"
            " WHERE message_id = ? AND status = 'open'",
            (_iso(at), how, root_id),
        )
        return cursor.rowcount == 1

    def set_ladder_step(self, message_id: str, step: int) -> None:
        self._db.execute(
            "UPDATE items SET ladder_step = max(ladder_step, ?) WHERE message_id = ?",
            (step, message_id),
        )

    def _item(self, row: sqlite3.Row) -> TrackedItem:
        return TrackedItem(
            message_id=row["message_id"], mailbox=row["mailbox"], folder=row["folder"],
            uid=row["uid"], sender=row["sender"], client=row["client"], owner=row["owner"],
            subject=row["subject"], received_at=_from_iso(row["received_at"]),
            read_at=_from_iso(row["read_at"]), deadline=_from_iso(row["deadline"]),
            urgent=bool(row["urgent"]), after_hours=bool(row["after_hours"]),
            routed_from=row["routed_from"], ladder_step=row["ladder_step"],
            status=row["status"], followups=row["followups"],
            acknowledged_at=_from_iso(row["acknowledged_at"]) if row["acknowledged_at"] else None,
            acknowledged_how=row["acknowledged_how"],
        )

    _ITEMS = (
        "SELECT i.*, (SELECT count(*) FROM followups f WHERE f.root_id = i.message_id)"
        " AS followups FROM items i"
    )

    def item(self, message_id: str) -> TrackedItem | None:
        row = self._db.execute(
            f"{self._ITEMS} WHERE i.message_id = ?", (message_id,)
        ).fetchone()
        return self._item(row) if row else None

    def open_items(self, *, deadline_by: datetime | None = None) -> list[TrackedItem]:
        """Open items, oldest first; with `deadline_by`, only those whose deadline has come
        by then (the only ones the escalation ladder can act on)."""
        if deadline_by is None:
            rows = self._db.execute(
                f"{self._ITEMS} WHERE i.status = 'open' ORDER BY i.received_at"
            )
        else:
            rows = self._db.execute(
                f"{self._ITEMS} WHERE i.status = 'open' AND i.deadline <= ?"
                " ORDER BY i.received_at", (_iso(deadline_by),),
            )
        return [self._item(r) for r in rows]

    def open_copies(self, mailbox: str, folder: str) -> list[tuple[int, str]]:
        """(uid, message_id) of each copy in this folder of a message still waiting for an
        answer: the copies whose \\Answered flag would acknowledge it."""
        return [(r[0], r[1]) for r in self._db.execute(
            "SELECT m.uid, m.message_id FROM items i JOIN messages m"
            " ON m.message_id = i.message_id"
            " WHERE i.status = 'open' AND m.mailbox = ? AND m.folder = ?", (mailbox, folder),
        )]

    def copies(self, message_ids: Iterable[str]) -> list[tuple[str, str, int, str]]:
        """Every known copy (mailbox, folder, uid, message_id) of these messages."""
        ids = list(dict.fromkeys(message_ids))
        found: list[tuple[str, str, int, str]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))  # placeholders only; values are bound
            query = f"SELECT mailbox, folder, uid, message_id FROM messages WHERE message_id IN ({marks})"  # noqa: E501, S608
            found.extend((r[0], r[1], r[2], r[3]) for r in self._db.execute(query, chunk))
        return found

    # -- digest ----------------------------------------------------------------------------
    def digest_items(self, since: datetime) -> list[tuple[TrackedItem, datetime]]:
        """Every open item, and every item received, tracked or acknowledged since `since`,
        each with the moment tracking started."""
        rows = self._db.execute(
            f"{self._ITEMS} WHERE i.status = 'open' OR i.received_at >= ?1"
            " OR i.created_at >= ?1 OR i.acknowledged_at >= ?1 ORDER BY i.received_at",
            (_iso(since),),
        )
        return [(self._item(r), _from_iso(r["created_at"])) for r in rows]

    def digest_followups(self, since: datetime) -> list[sqlite3.Row]:
        """Follow-ups received since `since`: client, owner (of the item), received_at."""
        return list(self._db.execute(
            "SELECT i.client, i.owner, f.received_at FROM followups f"
            " JOIN items i ON i.message_id = f.root_id WHERE f.received_at >= ?"
            " ORDER BY f.received_at",
            (_iso(since),),
        ))

    def digest_sent(self, kinds: Iterable[str], since: datetime) -> list[sqlite3.Row]:
        """Actions of these kinds sent since `since`, with the tracked item they concern
        (owner, client, sender, subject: '' if untracked), the ladder step, and the mailbox
        the source message arrived in."""
        return list(self._db.execute(
            "SELECT a.kind, a.source_message_id, a.recipients, a.sent_at,"
            " coalesce(json_extract(a.on_sent, '$.ladder.step'), 0) AS step,"
            " coalesce(i.owner, '') AS owner, coalesce(i.client, '') AS client,"
            " coalesce(i.sender, '') AS sender, coalesce(i.subject, '') AS subject,"
            " coalesce((SELECT m.mailbox FROM messages m WHERE m.message_id ="
            " a.source_message_id ORDER BY m.recorded_at LIMIT 1), '') AS mailbox"
            " FROM actions a LEFT JOIN items i ON i.message_id = a.source_message_id"
            " WHERE a.status = 'sent' AND a.sent_at >= ?"
            " AND a.kind IN (SELECT value FROM json_each(?)) ORDER BY a.sent_at",
            (_iso(since), json.dumps(list(kinds))),
        ))

    def digest_decisions(self, since: datetime) -> list[sqlite3.Row]:
        """Messages decided since `since`: mailbox, rule, reason, recorded_at, and the owner
        of the item they became ('' if untracked)."""
        return list(self._db.execute(
            "SELECT m.mailbox, m.rule, m.reason, m.recorded_at, coalesce(i.owner, '') AS owner"
            " FROM messages m LEFT JOIN items i ON i.message_id = m.message_id"
            " WHERE m.status = 'decided' AND m.recorded_at >= ? ORDER BY m.recorded_at",
            (_iso(since),),
        ))
