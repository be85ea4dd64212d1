"""What the state file knows of each monitored folder and message: high-water marks, every
message seen (baseline, decided, skipped), the addresses mail came from, and each mailbox's
last successful read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from boundary_mail.plan import BaselineRow
from boundary_mail.store.schema import Database, from_iso, iso


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message as recorded: where, from whom, and what was decided and why."""

    mailbox: str
    folder: str
    message_id: str
    uid: int
    received_at: datetime
    sender: str | None
    subject: str
    status: str  # baseline | decided
    rule: str
    reason: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class SkippedMessage:
    mailbox: str
    folder: str
    uid: int
    reason: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class MailboxHealth:
    """The last time a mailbox was read, and why the last window could not read it."""

    mailbox: str
    last_ok_at: datetime | None
    failed_at: datetime | None
    error: str


class MessageRecords(Database):
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
            (mailbox, folder, state.uidvalidity, state.last_uid, iso(now)),
        )

    # -- messages -----------------------------------------------------------------------
    def known_message_ids(self, mailbox: str, folder: str, ids: Iterable[str]) -> set[str]:
        return {r[0] for r in self._rows(
            "SELECT message_id FROM messages WHERE mailbox = ? AND folder = ?"
            " AND message_id IN ({marks})", ids, mailbox, folder,
        )}

    def record_message(
        self, *, mailbox: str, folder: str, message_id: str, uid: int, received_at: datetime,
        sender: str | None, subject: str, status: str, rule: str = "", reason: str = "",
        now: datetime,
    ) -> bool:
        """Remember a message; False if this folder already had one with the same Message-ID."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (mailbox, folder, message_id, uid, iso(received_at), sender, subject, status,
             rule, reason, iso(now)),
        )
        return cursor.rowcount == 1

    def record_baseline(
        self, rows: Iterable[BaselineRow], contacts: Iterable[str], *, reason: str,
        now: datetime,
    ) -> None:
        """Many messages at once as the baseline, and the addresses they came from as known
        contacts. One statement each, not one per message: a first sync may bring 100,000."""
        stamp = iso(now)
        self._db.executemany(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, 'baseline', '', ?, ?)",
            ((r.mailbox, r.folder, r.message_id, r.uid, iso(r.received_at), r.sender,
              r.subject, reason, stamp) for r in rows),
        )
        self.record_contacts(contacts, now)

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
            (mailbox, folder, uid, reason, iso(now)),
        )

    def message_count(self, status: str | None = None) -> int:
        if status is None:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])
        return int(
            self._db.execute("SELECT count(*) FROM messages WHERE status = ?", (status,))
            .fetchone()[0]
        )

    def skipped(self) -> list[SkippedMessage]:
        return [
            SkippedMessage(r["mailbox"], r["folder"], r["uid"], r["reason"],
                           from_iso(r["recorded_at"]))
            for r in self._db.execute("SELECT * FROM skipped ORDER BY recorded_at, uid")
        ]

    def decisions(self) -> list[MessageRecord]:
        return [
            MessageRecord(
                mailbox=r["mailbox"], folder=r["folder"], message_id=r["message_id"],
                uid=r["uid"], received_at=from_iso(r["received_at"]), sender=r["sender"],
                subject=r["subject"], status=r["status"], rule=r["rule"], reason=r["reason"],
                recorded_at=from_iso(r["recorded_at"]),
            )
            for r in self._db.execute(
                "SELECT * FROM messages WHERE status = 'decided' ORDER BY received_at"
            )
        ]

    def copies(self, message_ids: Iterable[str]) -> list[tuple[str, str, int, str]]:
        """Every known copy (mailbox, folder, uid, message_id) of these messages."""
        return [(r[0], r[1], r[2], r[3]) for r in self._rows(
            "SELECT mailbox, folder, uid, message_id FROM messages"
            " WHERE message_id IN ({marks})", message_ids,
        )]

    # -- contacts -------------------------------------------------------------------------
    def is_known_contact(self, address: str) -> bool:
        row = self._db.execute("SELECT 1 FROM contacts WHERE address = ?", (address,))
        return row.fetchone() is not None

    def record_contacts(self, addresses: Iterable[str], now: datetime) -> None:
        stamp = iso(now)
        self._db.executemany(
            "INSERT OR IGNORE INTO contacts (address, first_seen_at) VALUES (?, ?)",
            ((address, stamp) for address in addresses),
        )

    # -- mailbox health -------------------------------------------------------------------
    def record_mailbox_ok(self, mailbox: str, now: datetime) -> None:
        self._db.execute(
            "INSERT INTO mailbox_health (mailbox, last_ok_at) VALUES (?, ?)"
            " ON CONFLICT (mailbox) DO UPDATE SET last_ok_at = excluded.last_ok_at,"
            " failed_at = NULL, error = ''",
            (mailbox, iso(now)),
        )

    def record_mailbox_failed(self, mailbox: str, error: str, now: datetime) -> None:
        self._db.execute(
            "INSERT INTO mailbox_health (mailbox, failed_at, error) VALUES (?, ?, ?)"
            " ON CONFLICT (mailbox) DO UPDATE SET failed_at = excluded.failed_at,"
            " error = excluded.error",
            (mailbox, iso(now), error[:500]),
        )

    def mailbox_health(self) -> list[MailboxHealth]:
        return [
            MailboxHealth(
                r["mailbox"], from_iso(r["last_ok_at"]) if r["last_ok_at"] else None,
                from_iso(r["failed_at"]) if r["failed_at"] else None, r["error"],
            )
            for r in self._db.execute("SELECT * FROM mailbox_health ORDER BY mailbox")
        ]
