"""Loading the immutable `StateSnapshot` a batch is decided against: a handful of set-based
queries for exactly the keys the batch needs, instead of questions asked per message."""

from __future__ import annotations

from boundary_mail.snapshot import REPLY_KINDS, SnapshotKeys, StateSnapshot
from boundary_mail.store.queue import UNSENT
from boundary_mail.store.schema import Database, from_iso


class Snapshots(Database):
    def snapshot(self, keys: SnapshotKeys) -> StateSnapshot:
        addresses, ids, threads = keys.addresses, keys.message_ids, keys.thread_ids
        replies = {
            (r[0], r[1]): from_iso(r[2]) for r in self._rows(
                "SELECT sender, kind, last_sent_at FROM replies WHERE sender IN ({marks})",
                addresses,
            ) if r[1] in REPLY_KINDS
        }
        queued = {(r[0], r[1]) for r in self._rows(
            f"SELECT reply_to, reply_kind FROM actions WHERE status IN {UNSENT}"  # noqa: S608
            " AND reply_to IN ({marks})", addresses,
        )} | {(r[0], "contact_note") for r in self._rows(
            f"SELECT note_to FROM actions WHERE status IN {UNSENT}"  # noqa: S608
            " AND note_to IN ({marks})",
            addresses,
        )}
        known = {r[0] for r in self._rows(
            "SELECT address FROM contacts WHERE address IN ({marks})", addresses,
        )}
        tracked = {r[0] for r in self._rows(
            "SELECT message_id FROM items WHERE message_id IN ({marks})", ids,
        )} | {r[0] for r in self._rows(
            "SELECT message_id FROM followups WHERE message_id IN ({marks})", ids,
        )}
        # Our own messages the batch refers to (outgoing_message_id is UNIQUE, so indexed),
        # and the messages they answered, whose open items a reply to ours belongs to.
        ours = {r[0]: r[1] for r in self._rows(
            "SELECT outgoing_message_id, source_message_id FROM actions"
            " WHERE outgoing_message_id IN ({marks})", threads,
        )}
        looked_up = threads | {source for source in ours.values() if source}
        roots = {r[0]: r[0] for r in self._rows(
            "SELECT message_id FROM items WHERE status = 'open' AND message_id IN ({marks})",
            looked_up,
        )} | {r[0]: r[1] for r in self._rows(
            "SELECT f.message_id, f.root_id FROM followups f JOIN items i"
            " ON i.message_id = f.root_id WHERE i.status = 'open'"
            " AND f.message_id IN ({marks})", looked_up,
        )}
        # Who each message was recorded from: a known Message-ID from another sender is a
        # different message (copies of one message carry the same sender: any row will do).
        senders = {r[0]: r[1] for r in self._rows(
            "SELECT message_id, COALESCE(sender, '') FROM messages"
            " WHERE message_id IN ({marks})", ids,
        )}
        return StateSnapshot(replies=replies, queued=frozenset(queued), known=frozenset(known),
                             tracked=frozenset(tracked), roots=roots, ours=ours,
                             senders=senders)
