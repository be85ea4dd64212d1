"""The window's plan rules that are not about one message: the first-sync baseline, a
rebaselined folder, the high-water mark, \\Answered on arrival and the ladder's hold."""

from __future__ import annotations

from datetime import timedelta

from boundary_mail.actions import AutoReply
from boundary_mail.decide import Planner
from boundary_mail.facts import MessageFacts
from boundary_mail.plan import FolderRead, InboxPlan, plan_inbox, plan_ladder, split_inbox
from boundary_mail.snapshot import StateSnapshot
from tests.unit.factories import (
    ANN,
    BOB,
    CARLA,
    MONDAY_WINDOW,
    agency,
    calendar_of,
    message,
    tracked_item,
)


def first_sync(*messages: MessageFacts, last_uid: int = 0) -> FolderRead:
    return FolderRead(
        mailbox="bob", folder="INBOX", uidvalidity=7, messages=messages, skipped=(),
        top_uid=max(m.uid for m in messages), stored_last_uid=last_uid, first_sync=True,
        rebaseline=False,
    )


def carla_last_week_and_today() -> tuple[FolderRead, InboxPlan]:
    """A first sync: Carla's mail of last week and of this morning, planned at 10:00."""
    old = message(CARLA, uid=1, mid="<old@acme.test>", at=MONDAY_WINDOW - timedelta(days=3))
    new = message(CARLA, uid=2, mid="<new@acme.test>", at=MONDAY_WINDOW - timedelta(hours=2))
    read = first_sync(old, new)
    config = agency()
    return read, plan_inbox(split_inbox(read, (), MONDAY_WINDOW), read, StateSnapshot(),
                            Planner(config, calendar_of(config), MONDAY_WINDOW))


def test_a_first_sync_answers_only_mail_younger_than_the_lookback() -> None:
    """At installation, last week's mail is the baseline (recorded, never answered); this
    morning's is decided. The high-water mark is the batch's highest UID."""
    read, plan = carla_last_week_and_today()
    assert [b.message_id for b in plan.baseline] == ["<old@acme.test>"]
    assert [d.facts.message_id for d in plan.decisions] == ["<new@acme.test>"]
    assert read.last_uid == 2


def test_a_client_with_mail_in_the_baseline_is_not_welcomed_as_new() -> None:
    """Carla wrote last week (baseline) and again this morning: she gets the auto-reply, not
    the "How we work together" document of a new client (the store will know her once the
    batch commits; the plan knows her already, in a dry run too)."""
    _, plan = carla_last_week_and_today()
    (reply,) = [a for d in plan.decisions for a in d.actions if isinstance(a, AutoReply)]
    assert reply.first_contact is False


def test_the_ladder_waits_for_an_owner_whose_mailbox_was_not_read() -> None:
    """Ann's mailbox could not be read: her due reminder is held (her reply may be there);
    Bob's goes out."""
    config = agency()
    due = MONDAY_WINDOW - timedelta(hours=30)
    items = [tracked_item(deadline=due, message_id="<a@acme.test>", owner=ANN),
             tracked_item(deadline=due, message_id="<b@acme.test>", owner=BOB)]
    planner = Planner(config, calendar_of(config), MONDAY_WINDOW)
    plan = plan_ladder(items, planner.memory, unread_owners={ANN}, config=config,
                       calendar=calendar_of(config), now=MONDAY_WINDOW)
    assert {s.item.message_id for s in plan.steps} == {"<b@acme.test>"}
    assert {s.item.message_id for s in plan.held} == {"<a@acme.test>"}


def test_a_step_with_nobody_new_to_tell_is_taken_and_sends_nothing() -> None:
    """Unassigned mail is the lead's (no backup): his reminder goes out, the escalation to
    "the lead" would tell him again, so it is planned as taken (the item climbs past it, the
    store records step 2) and nothing is sent for it."""
    from tests.unit.factories import LEAD

    config = agency()
    due = MONDAY_WINDOW - timedelta(days=5)
    items = [tracked_item(deadline=due, message_id="<u@else.test>", owner=LEAD)]
    planner = Planner(config, calendar_of(config), MONDAY_WINDOW)
    plan = plan_ladder(items, planner.memory, unread_owners=set(), config=config,
                       calendar=calendar_of(config), now=MONDAY_WINDOW)

    assert [(s.step, s.to) for s in plan.steps] == [(1, LEAD)]
    assert [(s.step, s.to) for s in plan.skipped] == [(2, "")]
    assert [s.step for s in plan.taken] == [1, 2]
