"""Waiting items in the state file: what we wait for from clients, and their nudges.

A wait starts and ends in the same transaction as the batch that saw it (its Sent copy,
the client's answer). A nudge is a queued action under `nudge:<Message-ID>:<n>`, queued in
one transaction with the item's nudge count, so a crash either repeats the plan (nothing
was queued) or keeps both. A nudge by draft (kind "nudge_draft") is claimed like a route
and appended to the member's Drafts folder once (the folder is searched for its Message-ID
first, see `drafts`); a nudge by mail (kind "nudge") is sent by the outbox like any mail.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from boundary_mail.store.queue import StoredAction, _action
from boundary_mail.store.schema import Database, from_iso, iso
from boundary_mail.waiting import WaitEnd, WaitingItem, WaitStart

NUDGE_KINDS = ("nudge", "nudge_draft")
_DRAFT_DUE = "kind = 'nudge_draft' AND status IN ('pending', 'uncertain', 'sending')"


def _item(row: sqlite3.Row) -> WaitingItem:
    start = WaitStart(
        message_id=row["message_id"], mailbox=row["mailbox"], folder=row["folder"],
        uid=row["uid"], member=row["member"], client=row["client"],
        to=tuple(json.loads(row["recipients"])), subject=row["subject"],
        references=tuple(row["refs"].split()), sent_at=from_iso(row["sent_at"]),
        after_days=row["after_days"], how=row["how"],
    )
    return WaitingItem(
        start=start, nudges=row["nudges"],
        last_nudge_at=from_iso(row["last_nudge_at"]) if row["last_nudge_at"] else None,
        reported_at=from_iso(row["reported_at"]) if row["reported_at"] else None,
        status=row["status"], ended_at=from_iso(row["ended_at"]) if row["ended_at"] else None,
        ended_how=row["status"] if row["status"] != "open" else "",
    )


class Waits(Database):
    def start_waits(self, starts: Iterable[WaitStart], now: datetime) -> list[WaitStart]:
        """Record new waits (a wait known already stays as it is); those that were new."""
        added = []
        for s in starts:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO waiting (message_id, mailbox, folder, uid, member, client,"
                " recipients, subject, refs, sent_at, after_days, how, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (s.message_id, s.mailbox, s.folder, s.uid, s.member, s.client,
                 json.dumps(list(s.to)), s.subject, " ".join(s.references), iso(s.sent_at),
                 s.after_days, s.how, iso(now)),
            )
            if cursor.rowcount:
                added.append(s)
        return added

    def end_waits(self, ends: Iterable[WaitEnd]) -> list[str]:
        """Close open waits (the client answered, or a person said so); the ids closed. A
        nudge still queued for one (an outage kept it) is cancelled with it: never sent or
        put into Drafts after the answer. One being sent right now is left to its sender."""
        closed = []
        for end in ends:
            cursor = self._db.execute(
                "UPDATE waiting SET status = ?, ended_at = ?, ended_by = ?"
                " WHERE message_id = ? AND status = 'open'",
                ("answered" if end.how == "reply" else "done", iso(end.at), end.by,
                 end.message_id),
            )
            if cursor.rowcount:
                closed.append(end.message_id)
                self._db.execute(
                    "UPDATE actions SET status = 'cancelled', last_error = 'not needed: the"
                    " wait ended before it went out' WHERE source_message_id = ?"
                    " AND kind IN ('nudge', 'nudge_draft') AND status = 'pending'",
                    (end.message_id,))
        return closed

    def open_wait_threads(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Among `ids`, open waiting messages and their nudges: id → (wait, client)."""
        wanted = list(ids)
        found = {r[0]: (r[0], r[1]) for r in self._rows(
            "SELECT message_id, client FROM waiting WHERE status = 'open'"
            " AND message_id IN ({marks})", wanted)}
        found.update((r[0], (r[1], r[2])) for r in self._rows(
            "SELECT a.outgoing_message_id, w.message_id, w.client FROM actions a"
            " JOIN waiting w ON w.message_id = a.source_message_id"
            " WHERE a.kind IN ('nudge', 'nudge_draft') AND w.status = 'open'"
            " AND a.outgoing_message_id IN ({marks})", wanted))
        return found

    def open_waits(self) -> list[WaitingItem]:
        rows = self._db.execute("SELECT * FROM waiting WHERE status = 'open' ORDER BY sent_at")
        return [_item(r) for r in rows]

    def waits_since(self, since: datetime) -> list[WaitingItem]:
        """Every open wait, and every wait that started or ended since `since`."""
        rows = self._db.execute(
            "SELECT * FROM waiting WHERE status = 'open' OR sent_at >= ?1 OR ended_at >= ?1"
            " ORDER BY sent_at", (iso(since),))
        return [_item(r) for r in rows]

    def wait(self, message_id: str) -> WaitingItem | None:
        row = self._db.execute("SELECT * FROM waiting WHERE message_id = ?",
                               (message_id,)).fetchone()
        return _item(row) if row else None

    def record_nudge(self, message_id: str, number: int, now: datetime) -> None:
        """The `number`-th nudge is queued (inside the caller's transaction)."""
        self._db.execute(
            "UPDATE waiting SET nudges = max(nudges, ?), last_nudge_at = ?"
            " WHERE message_id = ? AND nudges < ?", (number, iso(now), message_id, number))

    def record_wait_report(self, message_id: str, now: datetime) -> None:
        self._db.execute(
            "UPDATE waiting SET reported_at = ? WHERE message_id = ? AND reported_at IS NULL",
            (iso(now), message_id))

    # -- nudges by draft: claimed, appended once, recorded -----------------------------------
    def due_drafts(self, token: str) -> list[StoredAction]:
        rows = self._db.execute(
            f"SELECT * FROM actions_with_bytes WHERE {_DRAFT_DUE} AND claim IS NOT ? ORDER BY id",  # noqa: S608
            (token,))
        return [_action(r) for r in rows]

    def claim_draft(self, action: StoredAction, token: str) -> bool:
        """Claim one draft for this run, committed before it is appended."""
        with self.transaction():
            cursor = self._db.execute(
                f"UPDATE actions SET status = 'sending', claim = ?, attempts = attempts + 1"  # noqa: S608
                f" WHERE id = ? AND {_DRAFT_DUE} AND claim IS NOT ?", (token, action.id, token))
        return cursor.rowcount == 1

    def mark_drafted(self, action: StoredAction, now: datetime, token: str) -> None:
        """The nudge is in the Drafts folder: recorded as done."""
        with self.transaction():
            self._db.execute(
                "UPDATE actions SET status = 'sent', sent_at = ?, last_error = ''"
                " WHERE id = ? AND claim = ?", (iso(now), action.id, token))

    # -- nudges by mail: a copy in the member's Sent folder, once ------------------------------
    def unfiled_nudges(self) -> list[StoredAction]:
        """Nudges sent by mail whose copy is not yet in their member's Sent folder."""
        rows = self._db.execute("SELECT * FROM actions_with_bytes WHERE kind = 'nudge'"
                                " AND status = 'sent' AND filed_at IS NULL ORDER BY id")
        return [_action(r) for r in rows]

    def mark_filed(self, action: StoredAction, now: datetime) -> None:
        with self.transaction():
            self._db.execute("UPDATE actions SET filed_at = ? WHERE id = ?", (iso(now), action.id))
