"""What the state records for the cost report: the team's replies read from the Sent folders
(decided in the core, `plan.team_replies`) and hours imported from a time tracker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from boundary_mail.costs import ImportedHours, Month, Nudge, Reply
from boundary_mail.plan import FolderRead, team_replies
from boundary_mail.store import Store
from tests.unit.factories import ANN, BOB, CARLA, GINA, MONDAY_WINDOW, agency, message

TEAM = agency().team_addresses


def sent_folder(
    *messages: object, first_sync: bool = False, rebaseline: bool = False
) -> FolderRead:
    return FolderRead(
        mailbox="ann", folder="Sent", uidvalidity=3, messages=messages,  # type: ignore[arg-type]
        skipped=(), top_uid=len(messages), stored_last_uid=0, first_sync=first_sync,
        rebaseline=rebaseline,
    )


def test_a_team_message_to_a_client_is_a_reply_to_its_recipients_outside_the_team() -> None:
    to_carla = message(ANN, mailbox="ann", folder="Sent", uid=1, mid="<r1@agency.test>",
                       to=CARLA, cc=BOB, at=MONDAY_WINDOW)
    (reply,) = team_replies(sent_folder(to_carla), TEAM, MONDAY_WINDOW)
    assert (reply.message_id, reply.author, reply.recipients, reply.sent_at) == (
        "<r1@agency.test>", ANN, (CARLA,), MONDAY_WINDOW)
    assert (reply.mailbox, reply.folder) == ("ann", "Sent")


def test_our_own_mail_team_mail_and_a_first_syncs_baseline_are_no_replies() -> None:
    ours = message(ANN, mailbox="ann", folder="Sent", uid=1, mid="<a@agency.test>", to=CARLA,
                   extra=["X-Boundary-Mail: auto_reply"])
    internal = message(ANN, mailbox="ann", folder="Sent", uid=2, mid="<b@agency.test>", to=BOB)
    old = message(ANN, mailbox="ann", folder="Sent", uid=3, mid="<c@agency.test>", to=GINA,
                  at=MONDAY_WINDOW - timedelta(days=2))
    new = message(ANN, mailbox="ann", folder="Sent", uid=4, mid="<d@agency.test>", to=GINA,
                  at=MONDAY_WINDOW - timedelta(hours=1))
    not_ours = message(CARLA, mailbox="ann", folder="Sent", uid=5, mid="<e@acme.test>", to=GINA)
    read = sent_folder(ours, internal, old, new, not_ours, first_sync=True)
    assert [r.message_id for r in team_replies(read, TEAM, MONDAY_WINDOW)] == ["<d@agency.test>"]


def test_a_sent_folder_read_again_after_a_uidvalidity_change_brings_no_old_replies() -> None:
    """Years of Sent mail read again are not counted as this month's work."""
    old = message(ANN, mailbox="ann", folder="Sent", uid=1, mid="<c@agency.test>", to=GINA,
                  at=MONDAY_WINDOW - timedelta(days=400))
    new = message(ANN, mailbox="ann", folder="Sent", uid=2, mid="<d@agency.test>", to=GINA,
                  at=MONDAY_WINDOW - timedelta(hours=1))
    read = sent_folder(old, new, rebaseline=True)
    assert [r.message_id for r in team_replies(read, TEAM, MONDAY_WINDOW)] == ["<d@agency.test>"]
    assert len(team_replies(sent_folder(old, new), TEAM, MONDAY_WINDOW)) == 2


def test_a_reply_read_twice_is_recorded_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite3")
    to_carla = message(ANN, mailbox="ann", folder="Sent", uid=1, mid="<r1@agency.test>",
                       to=CARLA, at=MONDAY_WINDOW)
    replies = team_replies(sent_folder(to_carla), TEAM, MONDAY_WINDOW)
    with store.transaction():
        store.record_team_replies(replies)
        store.record_team_replies(replies)
    week = (MONDAY_WINDOW - timedelta(days=7), MONDAY_WINDOW + timedelta(days=7))
    assert store.cost_replies(*week) == [Reply((CARLA,), MONDAY_WINDOW)]
    assert store.cost_replies(MONDAY_WINDOW + timedelta(seconds=1), week[1]) == []


def test_imported_hours_replace_those_of_the_same_client_and_month(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite3")
    nov, dec = Month(2026, 11), Month(2026, 12)
    with store.transaction():
        store.import_hours([ImportedHours("Acme", nov, Decimal("3.5"), "a.csv"),
                            ImportedHours("Acme", dec, Decimal("1"), "a.csv")], MONDAY_WINDOW)
        store.import_hours([ImportedHours("Acme", nov, Decimal("12.25"), "b.csv")],
                           MONDAY_WINDOW)
    assert store.imported_hours() == [
        ImportedHours("Acme", nov, Decimal("12.25"), "b.csv"),
        ImportedHours("Acme", dec, Decimal("1"), "a.csv"),
    ]


def test_nudges_that_went_out_count_per_recipient(tmp_path: Path) -> None:
    """Issue 16's nudges are queued actions of kinds nudge (sent) and nudge_draft (put in
    the member's Drafts); only those that went out count, one per client recipient."""
    store = Store(tmp_path / "state.sqlite3")
    with store.transaction():
        for i, kind in enumerate(("nudge", "nudge_draft", "nudge", "auto_reply")):
            store.add_action(
                dedupe_key=f"k{i}", kind=kind, source_message_id=f"<w{i}@agency.test>",
                envelope_from=ANN, recipients=[CARLA], outgoing_message_id=f"<o{i}@x>",
                raw=b"x", on_sent={}, now=MONDAY_WINDOW,
            )
    for action in store.actions()[:2] + store.actions()[3:]:
        store.mark_sent(action, MONDAY_WINDOW)  # the third nudge is still queued
    week = (MONDAY_WINDOW - timedelta(days=7), MONDAY_WINDOW + timedelta(days=7))
    assert store.cost_nudges(*week) == [Nudge(CARLA, MONDAY_WINDOW)] * 2
