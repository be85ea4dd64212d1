"""The state file: private, versioned, and transactional."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boundary_mail.plan import BaselineRow
from boundary_mail.store import SCHEMA_VERSION, FolderState, StateError, Store
from boundary_mail.store.migrations import MIGRATIONS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state" / "state.sqlite3")


def queue(store: Store, key: str = "auto_reply:<a@x>", **kw: object) -> bool:
    args: dict[str, object] = dict(
        dedupe_key=key, kind="auto_reply", source_message_id="<a@x>", envelope_from="",
        recipients=["client@acme.test"], outgoing_message_id=f"<bm.{key}@agency.test>",
        raw=b"Subject: hi\r\n\r\nbody", on_sent={"reply": {"sender": "client@acme.test",
                                                           "kind": "window"}},
        now=NOW,
    )
    args.update(kw)
    return store.add_action(**args)  # type: ignore[arg-type]


def test_state_file_is_private(tmp_path: Path) -> None:
    """Created 0600 inside a 0700 directory: other users cannot read client data."""
    s = Store(tmp_path / "state" / "state.sqlite3")
    assert stat.S_IMODE((tmp_path / "state" / "state.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    s.close()


def test_schema_is_versioned_and_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = Store(path)
    assert s.schema_version == SCHEMA_VERSION
    with s.transaction():
        s.set_folder_state("ann", "INBOX", FolderState(7, 42), NOW)
    s.close()
    again = Store(path)
    assert again.folder_state("ann", "INBOX") == FolderState(7, 42)
    again.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """Downgrading boundary-mail must not silently corrupt a newer state file."""
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateError, match="upgrade boundary-mail"):
        Store(path)


def test_a_state_file_of_schema_6_keeps_its_queued_bytes(tmp_path: Path) -> None:
    """Migration 7 moves each queued message's bytes into a table of their own, in place: a
    message queued before the upgrade goes out after it with exactly its bytes, and a claim
    and "sent" mark no longer rewrite them."""
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (6)")
        for version in range(1, 7):
            db.executescript(MIGRATIONS[version])
        db.execute(
            "INSERT INTO actions (dedupe_key, kind, source_message_id, envelope_from,"
            " recipients, outgoing_message_id, raw, reply_to, reply_kind, created_at)"
            " VALUES ('auto_reply:<a@x>', 'auto_reply', '<a@x>', '', '[\"client@acme.test\"]',"
            " '<bm.1@agency.test>', ?, 'client@acme.test', 'window', ?)",
            (b"Subject: queued before\r\n\r\nbody", NOW.isoformat()),
        )
    db.close()

    store = Store(path)

    assert store.schema_version == SCHEMA_VERSION
    (action,) = store.pending_actions()
    assert action.raw == b"Subject: queued before\r\n\r\nbody"
    assert store.claim(action, "drain-1")
    store.mark_sent(action, NOW, "drain-1")
    assert [(a.status, a.raw) for a in store.actions()] == [("sent", action.raw)]
    columns = {row[1] for row in store._db.execute("PRAGMA table_info(actions)")}
    assert "raw" not in columns and "status" in columns
    store.close()


def test_a_drain_switches_to_unsynced_commits_once_and_back_for_a_window_commit(
    store: Store,
) -> None:
    """Claims and "sent" marks are not synced one by one; the PRAGMA that says so is issued
    when the mode changes, not twice around every claim and mark, and the next ordinary
    transaction (a window's decisions) is synced again (synchronous=FULL is 2)."""
    for n in range(5):
        queue(store, key=f"auto_reply:<{n}@x>")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)

    for action in store.pending_actions():
        assert store.claim(action, "drain-1")
        store.mark_sent(action, NOW, "drain-1", synced=False)
    relaxed = [s for s in statements if s.startswith("PRAGMA synchronous")]
    with store.transaction():
        mode = store._db.execute("PRAGMA synchronous").fetchone()[0]

    assert relaxed == ["PRAGMA synchronous=NORMAL"]
    assert mode == 2
    assert [a.status for a in store.actions()] == ["sent"] * 5


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        queue(store)
        store.set_folder_state("ann", "INBOX", FolderState(1, 99), NOW)
        raise RuntimeError("crash mid-window")
    assert store.pending_actions() == []
    assert store.folder_state("ann", "INBOX") is None


def test_the_same_action_is_queued_once(store: Store) -> None:
    """A decision repeated after a crash does not queue a second reply."""
    assert queue(store) is True
    assert queue(store) is False
    assert len(store.pending_actions()) == 1


def test_rate_limit_is_recorded_only_after_a_successful_send(store: Store) -> None:
    """RFC 5230 / Pigeonhole: a failed send does not use up the sender's reply slot."""
    queue(store)
    action = store.pending_actions()[0]
    assert store.reply_queued("client@acme.test", "window")
    store.mark_attempt_failed(action, "server down", final=False)
    assert store.last_reply_at("client@acme.test", "window") is None
    assert store.pending_actions()[0].attempts == 1
    store.mark_sent(action, NOW)
    assert store.last_reply_at("client@acme.test", "window") == NOW
    assert store.pending_actions() == []
    assert not store.reply_queued("client@acme.test", "window")


def test_a_permanent_refusal_leaves_the_queue(store: Store) -> None:
    queue(store)
    store.mark_attempt_failed(store.pending_actions()[0], "550 no such user", final=True)
    assert store.pending_actions() == []
    assert [a.status for a in store.actions()] == ["failed"]


def test_messages_are_known_per_folder_by_message_id(store: Store) -> None:
    """The basis of re-baselining after a UIDVALIDITY change."""
    common = dict(received_at=NOW, sender="c@acme.test", subject="s", status="decided", now=NOW)
    assert store.record_message(mailbox="ann", folder="INBOX", message_id="<1@x>", uid=1,
                                **common)  # type: ignore[arg-type]
    assert not store.record_message(mailbox="ann", folder="INBOX", message_id="<1@x>", uid=5,
                                    **common)  # type: ignore[arg-type]
    assert store.known_message_ids("ann", "INBOX", ["<1@x>", "<2@x>"]) == {"<1@x>"}
    assert store.known_message_ids("bob", "INBOX", ["<1@x>"]) == set()


def test_a_baseline_is_recorded_in_bulk_and_its_senders_become_known(store: Store) -> None:
    """A first sync's baseline: every message known by Message-ID (a second copy of the same
    id is ignored, as record_message does), every sender a known contact."""
    rows = [BaselineRow("ann", "INBOX", f"<{n}@x>", n, NOW, f"c{n % 3}@acme.test", f"s{n}")
            for n in range(1, 301)]
    rows.append(BaselineRow("ann", "INBOX", "<1@x>", 999, NOW, "other@acme.test", "again"))
    with store.transaction():
        store.record_baseline(rows, {"c0@acme.test", "c1@acme.test", "bounce@acme.test"},
                              reason="first sync", now=NOW)
    assert store.known_message_ids("ann", "INBOX", ["<1@x>", "<300@x>", "<301@x>"]) == {
        "<1@x>", "<300@x>"}
    assert store.is_known_contact("c1@acme.test") and store.is_known_contact("bounce@acme.test")
    assert not store.is_known_contact("c2@acme.test")  # only the contacts given
    assert not store.record_message(mailbox="ann", folder="INBOX", message_id="<7@x>", uid=7,
                                    received_at=NOW, sender="c1@acme.test", subject="s",
                                    status="decided", now=NOW)


def test_open_copies_are_the_copies_in_that_folder_of_items_still_waiting(store: Store) -> None:
    """What the \\Answered check reads: only open items, only the given mailbox and folder,
    every copy there (a message may sit in Ann's inbox and, routed, in Bob's)."""
    from tests.unit.factories import tracked_item

    for n, (box, folder) in enumerate([("ann", "INBOX"), ("bob", "INBOX"), ("ann", "Archive")]):
        for mid in ("<open@x>", "<done@x>"):
            store.record_message(mailbox=box, folder=folder, message_id=mid, uid=10 * n + 1,
                                 received_at=NOW, sender="c@acme.test", subject="s",
                                 status="decided", now=NOW)
    store.add_item(tracked_item(deadline=NOW, message_id="<open@x>"), NOW)
    store.add_item(tracked_item(deadline=NOW, message_id="<done@x>"), NOW)
    store.acknowledge("<done@x>", NOW, "sent-folder")
    assert store.open_copies("ann", "INBOX") == [(1, "<open@x>")]
    assert store.open_copies("bob", "INBOX") == [(11, "<open@x>")]
    assert store.open_copies("lead", "INBOX") == []


def test_open_items_by_deadline_are_exactly_those_whose_deadline_has_come(store: Store) -> None:
    """The ladder's pre-filter: an item is left out only while its deadline is still ahead
    (due_steps skips those itself), and a deadline at this very second counts as come."""
    from datetime import timedelta

    from tests.unit.factories import tracked_item

    for n, offset in enumerate((-3600, -1, 0, 1, 3600)):
        store.add_item(tracked_item(deadline=NOW + timedelta(seconds=offset),
                                    message_id=f"<{n}@x>"), NOW)
    store.add_item(tracked_item(deadline=NOW - timedelta(days=1), message_id="<closed@x>"), NOW)
    store.acknowledge("<closed@x>", NOW, "ack-command")
    later = NOW + timedelta(microseconds=500_000)  # the clock is not on a whole second
    assert {i.message_id for i in store.open_items(deadline_by=later)} == {
        "<0@x>", "<1@x>", "<2@x>"}
    assert len(store.open_items()) == 5
