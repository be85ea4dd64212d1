"""Tracked items (client messages the team owes an answer) and their follow-ups."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from boundary_mail.store.schema import Database, from_iso, iso
from boundary_mail.tracking import TrackedItem

ITEMS_QUERY = (
    "SELECT i.*, (SELECT count(*) FROM followups f WHERE f.root_id = i.message_id)"
    " AS followups FROM items i"
)


def tracked_item(row: sqlite3.Row) -> TrackedItem:
    return TrackedItem(
        message_id=row["message_id"], mailbox=row["mailbox"], folder=row["folder"],
        uid=row["uid"], sender=row["sender"], client=row["client"], owner=row["owner"],
        subject=row["subject"], received_at=from_iso(row["received_at"]),
        read_at=from_iso(row["read_at"]), deadline=from_iso(row["deadline"]),
        urgent=bool(row["urgent"]), after_hours=bool(row["after_hours"]),
        routed_from=row["routed_from"], ladder_step=row["ladder_step"],
        status=row["status"], followups=row["followups"],
        acknowledged_at=from_iso(row["acknowledged_at"]) if row["acknowledged_at"] else None,
        acknowledged_how=row["acknowledged_how"],
    )


class Items(Database):
    def add_item(self, item: TrackedItem, now: datetime) -> bool:
        """Start tracking a client message; False if it is tracked already."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO items (message_id, mailbox, folder, uid, sender, client,"
            " owner, subject, received_at, read_at, deadline, urgent, after_hours, routed_from,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item.message_id, item.mailbox, item.folder, item.uid, item.sender, item.client,
             item.owner, item.subject, iso(item.received_at), iso(item.read_at),
             iso(item.deadline), int(item.urgent), int(item.after_hours), item.routed_from,
             iso(now)),
        )
        return cursor.rowcount == 1

    def add_followup(self, message_id: str, root_id: str, received_at: datetime) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO followups VALUES (?, ?, ?)",
            (message_id, root_id, iso(received_at)),
        )
        return cursor.rowcount == 1

    def acknowledge(self, root_id: str, at: datetime, how: str) -> bool:
        """Close an open item; False if it was not open (unknown or acknowledged before)."""
        cursor = self._db.execute(
            "UPDATE items SET status = 'acknowledged', acknowledged_at = ?, acknowledged_how = ?"
            " WHERE message_id = ? AND status = 'open'",
            (iso(at), how, root_id),
        )
        return cursor.rowcount == 1

    def set_ladder_step(self, message_id: str, step: int) -> None:
        self._db.execute(
            "UPDATE items SET ladder_step = max(ladder_step, ?) WHERE message_id = ?",
            (step, message_id),
        )

    def item(self, message_id: str) -> TrackedItem | None:
        row = self._db.execute(f"{ITEMS_QUERY} WHERE i.message_id = ?", (message_id,)).fetchone()
        return tracked_item(row) if row else None

    def open_items(self, *, deadline_by: datetime | None = None) -> list[TrackedItem]:
        """Open items, oldest first; with `deadline_by`, only those whose deadline has come
        by then (the only ones the escalation ladder can act on)."""
        if deadline_by is None:
            rows = self._db.execute(f"{ITEMS_QUERY} WHERE i.status = 'open' ORDER BY i.received_at")
        else:
            rows = self._db.execute(
                f"{ITEMS_QUERY} WHERE i.status = 'open' AND i.deadline <= ?"
                " ORDER BY i.received_at", (iso(deadline_by),),
            )
        return [tracked_item(r) for r in rows]

    def open_copies(self, mailbox: str, folder: str) -> list[tuple[int, str]]:
        """(uid, message_id) of each copy in this folder of a message still waiting for an
        answer: the copies whose \\Answered flag would acknowledge it."""
        return [(r[0], r[1]) for r in self._db.execute(
            "SELECT m.uid, m.message_id FROM items i JOIN messages m"
            " ON m.message_id = i.message_id"
            " WHERE i.status = 'open' AND m.mailbox = ? AND m.folder = ?", (mailbox, folder),
        )]

    def open_ids(self, message_ids: Iterable[str]) -> set[str]:
        """Which of these are open items."""
        return {r[0] for r in self._rows(
            "SELECT message_id FROM items WHERE status = 'open' AND message_id IN ({marks})",
            message_ids,
        )}

    def senders_since(self, since: datetime) -> dict[str, set[str]]:
        """Per client name: every address whose mail was tracked for it since `since` (the
        contacts an announcement goes to)."""
        found: dict[str, set[str]] = {}
        for client, sender in self._db.execute(
            "SELECT DISTINCT client, sender FROM items WHERE client != '' AND received_at >= ?",
            (iso(since),),
        ):
            found.setdefault(client, set()).add(sender)
        return found
