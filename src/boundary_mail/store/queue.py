"""The durable queue of outgoing mail.

Every message is queued, with its exact bytes (in a table of their own, so that claiming and
marking it sent rewrite a short row) and final Message-ID, in the same transaction as the
decision that asked for it, under a dedupe key that makes queuing it twice a no-op. What a
successful send must also record (the auto-reply rate limit, the first-contact mark) is kept in
typed columns beside it and applied in the same transaction as the "sent" mark.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boundary_mail.store.schema import Database, from_iso, iso

# Mail on its way: queued, being sent, or maybe delivered (the partial indexes say the same).
UNSENT = "('pending', 'sending', 'uncertain')"


@dataclass(frozen=True, slots=True)
class SendEffects:
    """What a successful send records besides "sent"."""

    reply_to: str | None = None  # an auto-reply to this address …
    reply_kind: str | None = None  # … of this kind: starts its rate-limit period
    note_to: str | None = None  # a contact note to this address (its own period)
    welcomed: str | None = None  # the reply carried "How we work together"
    ladder_step: int = 0  # the escalation step this reminder is

    @classmethod
    def of(cls, value: SendEffects | Mapping[str, Any]) -> SendEffects:
        """From the composer's bookkeeping mapping ({"reply": {"sender", "kind"}, …})."""
        if isinstance(value, SendEffects):
            return value
        reply, note = value.get("reply") or {}, value.get("note") or {}
        return cls(
            reply_to=reply.get("sender"), reply_kind=reply.get("kind"),
            note_to=note.get("sender"), welcomed=value.get("welcomed"),
            ladder_step=int((value.get("ladder") or {}).get("step", 0)),
        )


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
    effects: SendEffects
    status: str  # pending | sending | sent | failed | uncertain
    attempts: int
    last_error: str
    created_at: datetime
    resends: int = 0  # sends after "maybe delivered" (at most one)


def _action(row: sqlite3.Row) -> StoredAction:
    return StoredAction(
        id=row["id"], kind=row["kind"], dedupe_key=row["dedupe_key"],
        source_message_id=row["source_message_id"], envelope_from=row["envelope_from"],
        recipients=tuple(json.loads(row["recipients"])),
        outgoing_message_id=row["outgoing_message_id"], raw=bytes(row["raw"]),
        effects=SendEffects(row["reply_to"], row["reply_kind"], row["note_to"],
                            row["welcomed"], row["ladder_step"]),
        status=row["status"], attempts=row["attempts"], last_error=row["last_error"],
        created_at=from_iso(row["created_at"]), resends=row["resends"],
    )


class Queue(Database):
    def add_action(
        self, *, dedupe_key: str, kind: str, source_message_id: str, envelope_from: str,
        recipients: Iterable[str], outgoing_message_id: str, raw: bytes,
        on_sent: SendEffects | Mapping[str, Any], now: datetime,
    ) -> bool:
        """Queue one outgoing message; False when the same action was queued before."""
        effects = SendEffects.of(on_sent)
        with self.transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO actions (dedupe_key, kind, source_message_id,"
                " envelope_from, recipients, outgoing_message_id, reply_to, reply_kind, note_to,"
                " welcomed, ladder_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (dedupe_key, kind, source_message_id, envelope_from,
                 json.dumps(list(recipients)), outgoing_message_id, effects.reply_to,
                 effects.reply_kind, effects.note_to, effects.welcomed, effects.ladder_step,
                 iso(now)),
            )
            if cursor.rowcount != 1:
                return False
            self._db.execute("INSERT INTO action_bodies (id, raw) VALUES (?, ?)",
                             (cursor.lastrowid, raw))
        return True

    def action_status(self, dedupe_key: str) -> str | None:
        """pending | sending | sent | failed | uncertain; None when never queued."""
        row = self._db.execute("SELECT status FROM actions WHERE dedupe_key = ?", (dedupe_key,))
        found = row.fetchone()
        return str(found[0]) if found else None

    def has_action(self, dedupe_key: str) -> bool:
        row = self._db.execute("SELECT 1 FROM actions WHERE dedupe_key = ?", (dedupe_key,))
        return row.fetchone() is not None

    def pending_actions(self) -> list[StoredAction]:
        rows = self._db.execute(
            "SELECT * FROM actions_with_bytes WHERE status = 'pending' ORDER BY id")
        return [_action(r) for r in rows]

    def uncertain_actions(self) -> list[StoredAction]:
        """Mail the server may or may not have: resent at most once, then left alone."""
        rows = self._db.execute(
            "SELECT * FROM actions_with_bytes WHERE status = 'uncertain' ORDER BY id")
        return [_action(r) for r in rows]

    def actions(self, kind: str | None = None) -> list[StoredAction]:
        if kind is None:
            rows = self._db.execute("SELECT * FROM actions_with_bytes ORDER BY id")
        else:
            rows = self._db.execute(
                "SELECT * FROM actions_with_bytes WHERE kind = ? ORDER BY id", (kind,))
        return [_action(r) for r in rows]

    # -- claims: nothing is sent unless its claim is on disk ---------------------------------
    def recover_stale_claims(self, token: str) -> list[StoredAction]:
        """Claims of a drain that never finished (its process died, or the state could not be
        written after the send): the server may have the message. They become 'uncertain'."""
        with self.transaction():
            rows = [_action(r) for r in self._db.execute(
                "SELECT * FROM actions_with_bytes WHERE status = 'sending' AND claim IS NOT ?",
                (token,),
            )]
            self._db.execute(
                "UPDATE actions SET status = 'uncertain', last_error = 'the process sending it"
                " stopped before the result was recorded; it may have been delivered'"
                " WHERE status = 'sending' AND claim IS NOT ?", (token,),
            )
        return rows

    def sendable(self, token: str) -> list[StoredAction]:
        """What this drain may send: pending mail, and uncertain mail of an earlier drain
        that was not resent yet (never twice in one drain, never more than once)."""
        rows = self._db.execute(  # routes and drafts go by IMAP (`routes`, `drafts`)
            "SELECT * FROM actions_with_bytes WHERE kind NOT IN ('route', 'nudge_draft') AND"
            " (status = 'pending' OR (status = 'uncertain' AND resends = 0 AND claim IS NOT ?))"
            " ORDER BY id",
            (token,),
        )
        return [_action(r) for r in rows]

    def pending_with_keys(self, dedupe_keys: Iterable[str]) -> list[StoredAction]:
        """The pending mail (sent by SMTP) among these queue keys, oldest first."""
        return sorted((_action(r) for r in self._rows(
            "SELECT * FROM actions_with_bytes WHERE dedupe_key IN ({marks}) AND status = 'pending'"
            " AND kind NOT IN ('route', 'nudge_draft')", dedupe_keys,
        )), key=lambda action: action.id)

    def claim(self, action: StoredAction, token: str) -> bool:
        """Claim one message for this drain, committed before it is sent; False if it is not
        there to claim (sent, claimed or refused by another process meanwhile). The claim
        needs no sync to disk of its own: in WAL mode a commit survives the death of the
        process as soon as it returns (only a power cut could lose it)."""
        with self.relaxed_sync(), self.transaction():
            cursor = self._db.execute(
                "UPDATE actions SET resends = resends + (status = 'uncertain'),"
                " status = 'sending', claim = ?, attempts = attempts + 1 WHERE id = ? AND"
                " kind NOT IN ('route', 'nudge_draft') AND (status = 'pending' OR (status ="
                " 'uncertain' AND resends = 0 AND claim IS NOT ?))",
                (token, action.id, token),
            )
        return cursor.rowcount == 1

    def release(self, action: StoredAction, token: str, error: str, *, final: bool) -> None:
        """The send failed for sure: back in the queue, or refused for good."""
        with self.transaction():
            self._db.execute(
                "UPDATE actions SET status = ?, last_error = ? WHERE id = ? AND claim = ?",
                ("failed" if final else "pending", error[:500], action.id, token),
            )

    def mark_uncertain(self, action: StoredAction, token: str, error: str) -> None:
        """The server may have it (no answer to the final dot): not sent again in this drain,
        at most once more later."""
        with self.transaction():
            self._db.execute(
                "UPDATE actions SET status = 'uncertain', last_error = ?"
                " WHERE id = ? AND claim = ?", (error[:500], action.id, token),
            )

    def mark_sent(
        self, action: StoredAction, now: datetime, token: str | None = None, *,
        synced: bool = True,
    ) -> None:
        """Record a successful send and its bookkeeping (the reply rate limit) atomically.
        Unless `synced`, the commit is not synced to disk on its own (it survives the death
        of the process, not a power cut): the drain syncs every few messages and at its end."""
        with contextlib.nullcontext() if synced else self.relaxed_sync():
            self._mark_sent(action, now, token)

    def _mark_sent(self, action: StoredAction, now: datetime, token: str | None) -> None:
        effects, stamp = action.effects, iso(now)
        with self.transaction():
            self._db.execute(
                "UPDATE actions SET status = 'sent', sent_at = ?, last_error = ''"
                " WHERE id = ? AND (claim IS ? OR ? IS NULL)",
                (stamp, action.id, token, token),
            )
            # An auto-reply, and a contact note (on its own or inside an auto-reply), count
            # against their recipient's period only once they really went out.
            sent = [(effects.reply_to, effects.reply_kind), (effects.note_to, "contact_note")]
            for address, kind in sent:
                if address and kind:
                    self._db.execute(
                        "INSERT INTO replies VALUES (?, ?, ?) ON CONFLICT (sender, kind)"
                        " DO UPDATE SET last_sent_at = excluded.last_sent_at",
                        (address, kind, stamp),
                    )
            if effects.welcomed:
                self._db.execute(
                    "INSERT INTO contacts VALUES (?, ?, ?) ON CONFLICT (address) DO UPDATE"
                    " SET welcomed_at = excluded.welcomed_at",
                    (effects.welcomed, stamp, stamp),
                )

    def mark_attempt_failed(self, action: StoredAction, error: str, *, final: bool) -> None:
        self._db.execute(
            "UPDATE actions SET attempts = attempts + 1, last_error = ?, status = ?"
            " WHERE id = ?",
            (error[:500], "failed" if final else "pending", action.id),
        )

    # -- the auto-reply rate limit ----------------------------------------------------------
    def last_reply_at(self, sender: str, kind: str) -> datetime | None:
        row = self._db.execute(
            "SELECT last_sent_at FROM replies WHERE sender = ? AND kind = ?", (sender, kind)
        ).fetchone()
        return from_iso(row[0]) if row else None

    def reply_queued(self, sender: str, kind: str) -> bool:
        """True while a reply of this kind to this address is on its way (not yet sent)."""
        row = self._db.execute(
            f"SELECT 1 FROM actions WHERE status IN {UNSENT} AND reply_to = ?1"  # noqa: S608
            f" AND reply_kind = ?2 UNION ALL SELECT 1 FROM actions WHERE status IN {UNSENT}"
            " AND note_to = ?1 AND ?2 = 'contact_note'",
            (sender, kind),
        ).fetchone()
        return row is not None
