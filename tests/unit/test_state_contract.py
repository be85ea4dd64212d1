"""The state contract: the SQLite store and the in-memory state the core tests use answer
every snapshot question alike.

Each case writes the same history (items, follow-ups, acknowledgments, queued and sent
replies, contacts) into both, then asks for a snapshot; both must equal the snapshot the case
states by hand. A store that answers differently from the stand-in used by hundreds of core
tests (as `open_root` once did: an unordered `UNION … LIMIT 1`) fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from boundary_mail.snapshot import SnapshotKeys, StateSnapshot
from boundary_mail.store import SendEffects, Store
from boundary_mail.tracking import TrackedItem
from tests.unit.factories import MONDAY_EARLY, MONDAY_WINDOW, tracked_item

NOW = MONDAY_WINDOW


class State(Protocol):
    """The writes a window makes, and the snapshot a batch reads."""

    def add_item(self, item: TrackedItem, now: datetime) -> bool: ...
    def add_followup(self, message_id: str, root_id: str, received_at: datetime) -> bool: ...
    def acknowledge(self, root_id: str, at: datetime, how: str) -> bool: ...
    def record_contacts(self, addresses: set[str], now: datetime) -> None: ...
    def queue_reply(self, key: str, effects: SendEffects) -> None: ...
    def send(self, key: str, at: datetime) -> None: ...
    def queue_ours(self, message_id: str, source_message_id: str) -> None: ...
    def record_message(self, *, mailbox: str, folder: str, message_id: str, uid: int,
                       received_at: datetime, sender: str | None, subject: str, status: str,
                       now: datetime) -> bool: ...
    def snapshot(self, keys: SnapshotKeys) -> StateSnapshot: ...


@dataclass
class MemoryState:
    """The in-memory state: what a core test means by "the store holds …"."""

    items: dict[str, bool] = field(default_factory=dict)  # id → open
    followups: dict[str, str] = field(default_factory=dict)
    contacts: set[str] = field(default_factory=set)
    pending: dict[str, SendEffects] = field(default_factory=dict)
    replies: dict[tuple[str, str], datetime] = field(default_factory=dict)
    ours: dict[str, str] = field(default_factory=dict)  # our Message-ID → what it answered
    messages: dict[tuple[str, str, str], str] = field(default_factory=dict)  # → sender

    def add_item(self, item: TrackedItem, now: datetime) -> bool:
        new = item.message_id not in self.items
        self.items.setdefault(item.message_id, True)
        return new

    def add_followup(self, message_id: str, root_id: str, received_at: datetime) -> bool:
        new = message_id not in self.followups
        self.followups.setdefault(message_id, root_id)
        return new

    def acknowledge(self, root_id: str, at: datetime, how: str) -> bool:
        was_open = self.items.get(root_id, False)
        if was_open:
            self.items[root_id] = False
        return was_open

    def record_contacts(self, addresses: set[str], now: datetime) -> None:
        self.contacts |= addresses

    def queue_reply(self, key: str, effects: SendEffects) -> None:
        self.pending.setdefault(key, effects)

    def send(self, key: str, at: datetime) -> None:
        effects = self.pending.pop(key)
        if effects.reply_to and effects.reply_kind:
            self.replies[(effects.reply_to, effects.reply_kind)] = at
        if effects.note_to:
            self.replies[(effects.note_to, "contact_note")] = at
        if effects.welcomed:
            self.contacts.add(effects.welcomed)

    def queue_ours(self, message_id: str, source_message_id: str) -> None:
        self.ours.setdefault(message_id, source_message_id)

    def record_message(self, *, mailbox: str, folder: str, message_id: str, uid: int,
                       received_at: datetime, sender: str | None, subject: str, status: str,
                       now: datetime) -> bool:
        new = (mailbox, folder, message_id) not in self.messages
        self.messages.setdefault((mailbox, folder, message_id), sender or "")
        return new

    def snapshot(self, keys: SnapshotKeys) -> StateSnapshot:
        queued = {(e.reply_to, e.reply_kind) for e in self.pending.values()
                  if e.reply_to in keys.addresses and e.reply_kind} | {
                  (e.note_to, "contact_note") for e in self.pending.values()
                  if e.note_to in keys.addresses}
        ours = {m: s for m, s in self.ours.items() if m in keys.thread_ids}
        looked_up = keys.thread_ids | {s for s in ours.values() if s}
        roots = {m: m for m in looked_up if self.items.get(m)}
        roots |= {m: r for m, r in self.followups.items()
                  if m in looked_up and self.items.get(r)}
        return StateSnapshot(
            replies={k: v for k, v in self.replies.items() if k[0] in keys.addresses},
            queued=frozenset((str(a), str(k)) for a, k in queued),
            known=frozenset(self.contacts & keys.addresses),
            tracked=frozenset(m for m in keys.message_ids
                              if m in self.items or m in self.followups),
            roots=roots,
            ours=ours,
            senders={m: sender for (_, _, m), sender in self.messages.items()
                     if m in keys.message_ids},
        )


class SqliteState:
    """The real store behind the same small interface."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)

    def __getattr__(self, name: str) -> Callable[..., object]:
        return getattr(self.store, name)  # type: ignore[no-any-return]

    def record_contacts(self, addresses: set[str], now: datetime) -> None:
        self.store.record_contacts(addresses, now)

    def queue_reply(self, key: str, effects: SendEffects) -> None:
        self.store.add_action(
            dedupe_key=key, kind="auto_reply", source_message_id=f"<{key}>", envelope_from="",
            recipients=[effects.reply_to or effects.note_to or ""],
            outgoing_message_id=f"<bm.{key}@agency.test>", raw=b"x", on_sent=effects,
            now=NOW,
        )

    def queue_ours(self, message_id: str, source_message_id: str) -> None:
        self.store.add_action(
            dedupe_key=f"auto_reply:{message_id}", kind="auto_reply",
            source_message_id=source_message_id, envelope_from="", recipients=["x@acme.test"],
            outgoing_message_id=message_id, raw=b"x", on_sent={}, now=NOW,
        )

    def send(self, key: str, at: datetime) -> None:
        (action,) = [a for a in self.store.pending_actions() if a.dedupe_key == key]
        self.store.mark_sent(action, at)

    def snapshot(self, keys: SnapshotKeys) -> StateSnapshot:
        return self.store.snapshot(keys)


@pytest.fixture(params=["memory", "sqlite"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    if request.param == "memory":
        yield MemoryState()
        return
    sqlite = SqliteState(tmp_path / "state.sqlite3")
    yield sqlite  # type: ignore[misc]
    sqlite.store.close()


def keys(addresses: Iterable[str] = (), ids: Iterable[str] = (),
         threads: Iterable[str] = ()) -> SnapshotKeys:
    return SnapshotKeys(frozenset(addresses), frozenset(ids), frozenset(threads))


def item(message_id: str) -> TrackedItem:
    return tracked_item(deadline=MONDAY_WINDOW, message_id=message_id)


def test_an_empty_state_knows_nothing(state: State) -> None:
    """Nothing stored: no reply, no contact, nothing tracked, no open thread."""
    snap = state.snapshot(keys({"carla@acme.test"}, {"<a@x>"}, {"<a@x>"}))
    assert snap == StateSnapshot()


def test_open_items_and_their_followups_lead_to_the_open_root(state: State) -> None:
    """An open item is its own root; a follow-up leads to its item; an acknowledged item and
    its follow-ups lead nowhere; only the asked-for ids are in the snapshot."""
    for mid in ("<open@x>", "<closed@x>", "<other@x>"):
        state.add_item(item(mid), NOW)
    state.add_followup("<f1@x>", "<open@x>", MONDAY_EARLY)
    state.add_followup("<f2@x>", "<closed@x>", MONDAY_EARLY)
    assert state.acknowledge("<closed@x>", NOW, "reply")
    assert not state.acknowledge("<closed@x>", NOW, "reply")

    snap = state.snapshot(keys(threads={"<open@x>", "<f1@x>", "<closed@x>", "<f2@x>"}))

    assert snap.roots == {"<open@x>": "<open@x>", "<f1@x>": "<open@x>"}
    assert snap.open_root(["<f2@x>", "<f1@x>"]) == "<open@x>"


def test_tracked_means_an_item_or_a_counted_followup_open_or_not(state: State) -> None:
    """A message handled already (an item, acknowledged or not, or a follow-up) is tracked."""
    state.add_item(item("<a@x>"), NOW)
    state.add_followup("<f@x>", "<a@x>", MONDAY_EARLY)
    state.acknowledge("<a@x>", NOW, "manual")
    snap = state.snapshot(keys(ids={"<a@x>", "<f@x>", "<new@x>"}))
    assert snap.tracked == {"<a@x>", "<f@x>"}


def test_a_queued_reply_counts_until_sent_then_its_time_does(state: State) -> None:
    """The rate limit: a reply waiting in the queue is "queued"; once sent, its time is the
    last reply; a contact note inside an auto-reply counts for both kinds."""
    state.queue_reply("auto_reply:<1@x>", SendEffects(reply_to="carla@acme.test",
                                                      reply_kind="window",
                                                      note_to="carla@acme.test"))
    state.queue_reply("auto_reply:<2@x>", SendEffects(reply_to="gina@globex.test",
                                                      reply_kind="window"))
    ask = keys({"carla@acme.test", "gina@globex.test"})
    assert state.snapshot(ask).queued == {("carla@acme.test", "window"),
                                          ("carla@acme.test", "contact_note"),
                                          ("gina@globex.test", "window")}

    sent_at = NOW + timedelta(minutes=1)
    state.send("auto_reply:<1@x>", sent_at)
    snap = state.snapshot(ask)

    assert snap.queued == {("gina@globex.test", "window")}
    assert snap.replies == {("carla@acme.test", "window"): sent_at,
                            ("carla@acme.test", "contact_note"): sent_at}


def test_known_contacts_are_the_senders_seen_and_the_welcomed(state: State) -> None:
    """Addresses mail came from, and a client sent "How we work together", are known."""
    state.record_contacts({"old@acme.test"}, NOW)
    state.queue_reply("auto_reply:<w@x>", SendEffects(reply_to="new@acme.test",
                                                      reply_kind="window",
                                                      welcomed="new@acme.test"))
    ask = keys({"old@acme.test", "new@acme.test", "never@acme.test"})
    assert state.snapshot(ask).known == {"old@acme.test"}
    state.send("auto_reply:<w@x>", NOW)
    assert state.snapshot(ask).known == {"old@acme.test", "new@acme.test"}


def test_our_own_messages_lead_to_what_they_answered(state: State) -> None:
    """Our queued or sent messages among the thread ids are "ours", each with the message it
    answered ("" for a digest); the open item that message is, or follows, is in the roots;
    a closed one is not."""
    for mid in ("<open@x>", "<closed@x>"):
        state.add_item(item(mid), NOW)
    state.add_followup("<f1@x>", "<open@x>", MONDAY_EARLY)
    state.acknowledge("<closed@x>", NOW, "reply")
    state.queue_ours("<bm.1@agency.test>", "<f1@x>")
    state.queue_ours("<bm.2@agency.test>", "<closed@x>")
    state.queue_ours("<bm.3@agency.test>", "")
    state.queue_ours("<bm.4@agency.test>", "<open@x>")  # not asked for

    snap = state.snapshot(keys(threads={"<bm.1@agency.test>", "<bm.2@agency.test>",
                                        "<bm.3@agency.test>", "<unknown@x>"}))

    assert snap.ours == {"<bm.1@agency.test>": "<f1@x>", "<bm.2@agency.test>": "<closed@x>",
                         "<bm.3@agency.test>": ""}
    assert snap.roots == {"<f1@x>": "<open@x>"}
    assert snap.answered_by_us("<bm.1@agency.test>") == "<f1@x>"
    assert snap.answered_by_us("<unknown@x>") is None


def test_each_stored_message_is_known_with_its_sender(state: State) -> None:
    """The messages asked for that are stored (decided, baseline or skipped; in any folder)
    come with the sender recorded for them; a message without a sender has "" (so a known
    Message-ID from another sender is a different message, see `decide`)."""
    for box, mid, sender in (("ann", "<a@x>", "carla@acme.test"),
                             ("bob", "<a@x>", "carla@acme.test"),
                             ("ann", "<b@x>", None),
                             ("ann", "<c@x>", "gina@globex.test")):
        assert state.record_message(mailbox=box, folder="INBOX", message_id=mid, uid=1,
                                    received_at=MONDAY_EARLY, sender=sender, subject="",
                                    status="decided", now=NOW)

    snap = state.snapshot(keys(ids={"<a@x>", "<b@x>", "<new@x>"}))

    assert snap.senders == {"<a@x>": "carla@acme.test", "<b@x>": ""}
    assert snap.sender_of("<a@x>") == "carla@acme.test"
    assert snap.sender_of("<new@x>") is None
