"""Routes in the state file: client mail passed on to its point of contact.

A route by IMAP is a queued action of kind "route": the original's exact bytes in `raw`, the
point of contact in `recipients`. The SMTP drain never takes one (`Queue.sendable`); the
window appends it (see `boundary_mail.routes`) under a claim of its own and drops the bytes
once they are in the target inbox. A redirect by the relay is an ordinary queued message of
kind "redirect" (or "redirect_notice" when the original was too big to travel). A route of
any kind that failed for good gets one alert, queued under `route-failed:<Message-ID>`;
that alert's creation is the moment the failure was noticed, which the digest reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from boundary_mail.digest_data import FailedRoute
from boundary_mail.store.queue import StoredAction, _action
from boundary_mail.store.schema import Database, from_iso, iso

ROUTE_KINDS = ("route", "redirect", "redirect_notice")
ALERT_PREFIX = "route-failed:"
# A route still to append: queued, or claimed by a run that never recorded the outcome (the
# APPEND is idempotent: the target inbox is searched for the Message-ID first).
_DUE = "kind = 'route' AND status IN ('pending', 'uncertain', 'sending')"
# Routes refused for good, with their message's first decided copy, and their alert if one
# is queued (its creation: when the failure was noticed). Few rows: a route fails rarely.
_FAILED = (
    "SELECT a.source_message_id, a.recipients, a.last_error, b.created_at AS noticed,"
    " coalesce(i.sender, m.sender, '') AS sender, coalesce(i.subject, m.subject, '') AS subject,"
    " coalesce(m.mailbox, '') AS mailbox, coalesce(m.folder, '') AS folder"
    " FROM actions a LEFT JOIN items i ON i.message_id = a.source_message_id"
    " LEFT JOIN messages m ON m.rowid = (SELECT rowid FROM messages WHERE message_id ="
    " a.source_message_id AND status = 'decided' ORDER BY recorded_at, rowid LIMIT 1)"
    " LEFT JOIN actions b ON b.dedupe_key = 'route-failed:' || a.source_message_id"
    " WHERE a.kind IN ('route', 'redirect', 'redirect_notice') AND a.status = 'failed'"
    " ORDER BY a.id"
)


@dataclass(frozen=True, slots=True)
class SourceCopy:
    """The copy a routed message was decided on: where it lies and when it arrived."""

    mailbox: str
    folder: str
    uid: int
    received_at: datetime


class Routes(Database):
    def due_routes(self, token: str) -> list[StoredAction]:
        """Routes by IMAP still to append (not those this run claimed already)."""
        rows = self._db.execute(
            f"SELECT * FROM actions_with_bytes WHERE {_DUE} AND claim IS NOT ? ORDER BY id",  # noqa: S608
            (token,),
        )
        return [_action(r) for r in rows]

    def claim_route(self, action: StoredAction, token: str) -> bool:
        """Claim one route for this run, committed before it is appended."""
        with self.transaction():
            cursor = self._db.execute(
                f"UPDATE actions SET status = 'sending', claim = ?, attempts = attempts + 1"  # noqa: S608
                f" WHERE id = ? AND {_DUE} AND claim IS NOT ?", (token, action.id, token),
            )
        return cursor.rowcount == 1

    def mark_routed(self, action: StoredAction, now: datetime, token: str) -> None:
        """The original is in the target inbox: recorded as sent, its bytes dropped."""
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE actions SET status = 'sent', sent_at = ?, last_error = ''"
                " WHERE id = ? AND claim = ?", (iso(now), action.id, token),
            )
            if cursor.rowcount == 1:
                self._db.execute("UPDATE action_bodies SET raw = x'' WHERE id = ?", (action.id,))

    def source_copy(self, message_id: str) -> SourceCopy | None:
        """The first decided copy of a message: the one its route was decided on."""
        row = self._db.execute(
            "SELECT mailbox, folder, uid, received_at FROM messages WHERE message_id = ?"
            " AND status = 'decided' ORDER BY recorded_at, rowid LIMIT 1", (message_id,),
        ).fetchone()
        return SourceCopy(row[0], row[1], int(row[2]), from_iso(row[3])) if row else None

    def failed_routes(self) -> list[FailedRoute]:
        """Routes refused for good; `failed_at` is None while their alert is not queued."""
        return [_failed(dict(r)) for r in self._db.execute(_FAILED)]


def _failed(r: dict[str, str]) -> FailedRoute:
    recipients = json.loads(r["recipients"])
    return FailedRoute(
        message_id=r["source_message_id"], mailbox=r["mailbox"], folder=r["folder"], owner="",
        to=recipients[0] if recipients else "", sender=r["sender"], subject=r["subject"],
        error=r["last_error"], failed_at=from_iso(r["noticed"]) if r["noticed"] else None,
    )
