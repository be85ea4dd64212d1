"""What the cost report reads and keeps: the team's replies found in the Sent folders, hours
imported from a time tracker, and the events of a period (as the cost model's record types)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from boundary_mail.costs import Followup, ImportedHours, Inbound, Month, Nudge, Reply
from boundary_mail.plan import TeamReply
from boundary_mail.store.schema import Database, from_iso, iso

# The outbox kinds of a nudge (issue 16): sent by SMTP, or appended to the member's Drafts
# folder for them to send. Only nudges that went out (or were appended) count.
NUDGE_KINDS = ("nudge", "nudge_draft")


class CostRecords(Database):
    def record_team_replies(self, replies: Iterable[TeamReply]) -> None:
        """Remember each message once, however often a Sent folder is read again."""
        self._db.executemany(
            "INSERT OR IGNORE INTO team_replies VALUES (?, ?, ?, ?, ?, ?)",
            ((r.message_id, r.mailbox, r.folder, r.author, json.dumps(list(r.recipients)),
              iso(r.sent_at)) for r in replies),
        )

    def cost_inbound(self, since: datetime, until: datetime) -> list[Inbound]:
        """Tracked messages received in [since, until)."""
        return [
            Inbound(r[0], from_iso(r[1]), bool(r[2])) for r in self._db.execute(
                "SELECT sender, received_at, after_hours FROM items"
                " WHERE received_at >= ? AND received_at < ?", (iso(since), iso(until)),
            )
        ]

    def cost_followups(self, since: datetime, until: datetime) -> list[Followup]:
        """Follow-ups received in [since, until), with the sender of the item they follow."""
        return [
            Followup(r[0], from_iso(r[1])) for r in self._db.execute(
                "SELECT i.sender, f.received_at FROM followups f"
                " JOIN items i ON i.message_id = f.root_id"
                " WHERE f.received_at >= ? AND f.received_at < ?", (iso(since), iso(until)),
            )
        ]

    def cost_replies(self, since: datetime, until: datetime) -> list[Reply]:
        return [
            Reply(tuple(json.loads(r[0])), from_iso(r[1])) for r in self._db.execute(
                "SELECT recipients, sent_at FROM team_replies"
                " WHERE sent_at >= ? AND sent_at < ?", (iso(since), iso(until)),
            )
        ]

    def cost_nudges(self, since: datetime, until: datetime) -> list[Nudge]:
        """Nudges sent to clients in [since, until): one per recipient of each."""
        rows = self._db.execute(
            "SELECT recipients, sent_at FROM actions WHERE status = 'sent'"
            " AND sent_at >= ? AND sent_at < ? AND kind IN (SELECT value FROM json_each(?))",
            (iso(since), iso(until), json.dumps(NUDGE_KINDS)),
        ).fetchall()
        return [Nudge(a, from_iso(r[1])) for r in rows for a in json.loads(r[0])]

    # -- hours from a time tracker ----------------------------------------------------------
    def import_hours(self, hours: Iterable[ImportedHours], now: datetime) -> None:
        """Each (client, month) given replaces what was imported for it before."""
        self._db.executemany(
            "INSERT INTO imported_hours VALUES (?, ?, ?, ?, ?) ON CONFLICT (client, month)"
            " DO UPDATE SET hours = excluded.hours, source = excluded.source,"
            " imported_at = excluded.imported_at",
            ((h.client, str(h.month), str(h.hours), h.source, iso(now)) for h in hours),
        )

    def imported_hours(self) -> list[ImportedHours]:
        return [
            ImportedHours(r[0], Month.parse(r[1]), Decimal(r[2]), r[3]) for r in self._db.execute(
                "SELECT client, month, hours, source FROM imported_hours ORDER BY month, client"
            )
        ]
