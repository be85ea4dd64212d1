"""What the core may know of the stored state while it decides one batch: plain, frozen data.

The shell asks the core which keys a batch needs (`keys_for`), loads exactly those from the
store with a few set-based queries, and hands the core one immutable `StateSnapshot`. The core
never calls back into the store: what it decided earlier in the same window, and the store
does not show yet, it remembers itself (see `memory.WindowMemory`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

from boundary_mail.facts import MessageFacts
from boundary_mail.ids import reused_identity
from boundary_mail.policy import reply_recipient

REPLY_KIND_WINDOW = "window"
NOTE_KIND_CONTACT = "contact_note"
REPLY_KINDS = (REPLY_KIND_WINDOW, NOTE_KIND_CONTACT)

# A References chain can be very long; the newest ids say enough about the thread.
THREAD_IDS_LOOKED_UP = 50


@dataclass(frozen=True, slots=True)
class SnapshotKeys:
    """Everything a batch's decisions may look up, collected before deciding."""

    addresses: frozenset[str]  # reply recipients and senders: rate limit, known contacts
    # The batch's own ids and the identities they would have if reused by another sender
    # (see `ids.reused_identity`): tracked already? recorded from whom?
    message_ids: frozenset[str]
    thread_ids: frozenset[str]  # ids the batch refers to: which open item, ours?


def keys_for(messages: Iterable[MessageFacts]) -> SnapshotKeys:
    addresses: set[str] = set()
    ids: set[str] = set()
    threads: set[str] = set()
    for facts in messages:
        addresses.update(a for a in (
            reply_recipient(facts), facts.return_path,
            facts.sender.email if facts.sender else None,
        ) if a)
        ids.add(facts.message_id)
        sender = facts.sender.email if facts.sender else facts.return_path
        ids.add(reused_identity(facts.message_id, sender or ""))
        threads.update(thread_ids(facts))
    return SnapshotKeys(frozenset(addresses), frozenset(ids), frozenset(threads))


def thread_ids(facts: MessageFacts) -> tuple[str, ...]:
    """The Message-IDs a message refers to that are looked up, newest reference last."""
    return facts.thread_ids[-THREAD_IDS_LOOKED_UP:] if facts.thread_ids else ()


K = TypeVar("K")
V = TypeVar("V")


def _frozen_map(value: Mapping[K, V]) -> Mapping[K, V]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """The stored state as one batch sees it (only the keys it asked for, or more)."""

    replies: Mapping[tuple[str, str], datetime] = field(default_factory=dict)  # last sent
    queued: frozenset[tuple[str, str]] = frozenset()  # replies waiting in the queue
    known: frozenset[str] = frozenset()  # addresses we have seen mail from
    tracked: frozenset[str] = frozenset()  # items and counted follow-ups
    roots: Mapping[str, str] = field(default_factory=dict)  # id → open item it belongs to
    # Our own messages among the thread ids: their Message-ID → the message they answered
    # ("" for mail about no message, such as a digest). Their sources' roots are in `roots`.
    ours: Mapping[str, str] = field(default_factory=dict)
    senders: Mapping[str, str] = field(default_factory=dict)  # message id → its recorded sender

    def __post_init__(self) -> None:
        # Accept plain sets and dicts from callers; keep the snapshot immutable.
        object.__setattr__(self, "replies", _frozen_map(self.replies))
        object.__setattr__(self, "roots", _frozen_map(self.roots))
        object.__setattr__(self, "ours", _frozen_map(self.ours))
        object.__setattr__(self, "senders", _frozen_map(self.senders))
        object.__setattr__(self, "queued", frozenset(self.queued))
        object.__setattr__(self, "known", frozenset(self.known))
        object.__setattr__(self, "tracked", frozenset(self.tracked))

    def last_reply_at(self, sender: str, kind: str) -> datetime | None:
        return self.replies.get((sender, kind))

    def reply_queued(self, sender: str, kind: str) -> bool:
        return (sender, kind) in self.queued

    def is_known_contact(self, address: str) -> bool:
        return address in self.known

    def is_tracked(self, message_id: str) -> bool:
        return message_id in self.tracked

    def sender_of(self, message_id: str) -> str | None:
        """The sender recorded for a stored message with this id (None: none is stored)."""
        return self.senders.get(message_id)

    def answered_by_us(self, message_id: str) -> str | None:
        """If `message_id` is one of our own messages, the Message-ID it answered."""
        return self.ours.get(message_id)

    def open_root(self, ids: Sequence[str]) -> str | None:
        """The open item that the first of `ids` with one is, or is a follow-up of."""
        return next((self.roots[m] for m in ids if m in self.roots), None)

    def with_open(self, *root_ids: str) -> StateSnapshot:
        """This state plus open tracked items (each its own root)."""
        return replace(self, tracked=self.tracked | set(root_ids),
                       roots={**self.roots, **{r: r for r in root_ids}})
