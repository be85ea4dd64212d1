"""What the digest reads: the last 30 days of items, follow-ups, sent mail and decisions, as
the digest's own record types (never raw rows)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from boundary_mail.digest import DecisionRecord, FollowupRecord, ItemRecord, SentRecord
from boundary_mail.store.items import ITEMS_QUERY, tracked_item
from boundary_mail.store.schema import Database, from_iso, iso


class Reports(Database):
    def digest_items(self, since: datetime) -> list[ItemRecord]:
        """Every open item, and every item received, tracked or acknowledged since `since`,
        each with the moment tracking started."""
        rows = self._db.execute(
            f"{ITEMS_QUERY} WHERE i.status = 'open' OR i.received_at >= ?1"
            " OR i.created_at >= ?1 OR i.acknowledged_at >= ?1 ORDER BY i.received_at",
            (iso(since),),
        )
        return [ItemRecord(tracked_item(r), from_iso(r["created_at"])) for r in rows]

    def digest_followups(self, since: datetime) -> list[FollowupRecord]:
        """Follow-ups received since `since`, with the client and owner of their item."""
        return [
            FollowupRecord(r[0], r[1], from_iso(r[2])) for r in self._db.execute(
                "SELECT i.client, i.owner, f.received_at FROM followups f"
                " JOIN items i ON i.message_id = f.root_id WHERE f.received_at >= ?"
                " ORDER BY f.received_at",
                (iso(since),),
            )
        ]

    def digest_sent(self, kinds: Iterable[str], since: datetime) -> list[SentRecord]:
        """Actions of these kinds sent since `since`, with the tracked item they concern
        (owner, client, sender, subject: '' if untracked), the ladder step, and the mailbox
        the source message arrived in."""
        rows = self._db.execute(
            "SELECT a.kind, a.source_message_id, a.recipients, a.sent_at, a.ladder_step,"
            " coalesce(i.owner, '') AS owner, coalesce(i.client, '') AS client,"
            " coalesce(i.sender, '') AS sender, coalesce(i.subject, '') AS subject,"
            " coalesce((SELECT m.mailbox FROM messages m WHERE m.message_id ="
            " a.source_message_id ORDER BY m.recorded_at LIMIT 1), '') AS mailbox"
            " FROM actions a LEFT JOIN items i ON i.message_id = a.source_message_id"
            " WHERE a.status = 'sent' AND a.sent_at >= ?"
            " AND a.kind IN (SELECT value FROM json_each(?)) ORDER BY a.sent_at",
            (iso(since), json.dumps(list(kinds))),
        )
        return [
            SentRecord(
                kind=r["kind"], source_message_id=r["source_message_id"],
                recipients=tuple(json.loads(r["recipients"])), sent_at=from_iso(r["sent_at"]),
                step=int(r["ladder_step"]), owner=r["owner"], mailbox=r["mailbox"],
                client=r["client"], sender=r["sender"], subject=r["subject"],
            )
            for r in rows
        ]

    def digest_decisions(self, since: datetime) -> list[DecisionRecord]:
        """Messages decided since `since`, with the owner of the item they became."""
        return [
            DecisionRecord(r[0], r[1], r[2], from_iso(r[3]), r[4]) for r in self._db.execute(
                "SELECT m.mailbox, m.rule, m.reason, m.recorded_at, coalesce(i.owner, '')"
                " FROM messages m LEFT JOIN items i ON i.message_id = m.message_id"
                " WHERE m.status = 'decided' AND m.recorded_at >= ? ORDER BY m.recorded_at",
                (iso(since),),
            )
        ]
