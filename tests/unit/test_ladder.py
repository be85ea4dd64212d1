"""The escalation ladder: each configured step once, in business hours after the deadline.

The default ladder: at the deadline a reminder to the account manager, 8 business hours later
an escalation to the lead. Business hours 09:00–17:00, Monday to Friday, German public
holidays, Europe/Berlin. The usual item arrived Monday 23 November 2026 and was promised for
Tuesday 24 November 15:00, so the escalation falls due on Wednesday at 15:00
(Tue 15–17 = 2 h, Wed 09–15 = 6 h).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundary_mail.config import EscalationStep, TeamConfig
from boundary_mail.ladder import LadderStep, due_steps, recipient, recipients
from boundary_mail.tracking import TrackedItem
from tests.unit.factories import (
    ANN,
    BERLIN,
    BOB,
    LEAD,
    agency,
    berlin,
    calendar_of,
    tracked_item,
)

CONFIG = agency()
CALENDAR = calendar_of(CONFIG)
DEFAULT_STEPS = CONFIG.escalation.steps
DEADLINE = berlin(24, 15)  # Tuesday 15:00


def due(
    *items: TrackedItem,
    now: datetime,
    steps: list[EscalationStep] = DEFAULT_STEPS,
    team: TeamConfig = CONFIG.team,
) -> list[LadderStep]:
    return due_steps(items, steps=steps, calendar=CALENDAR, team=team, now=now)


def summary(steps: list[LadderStep]) -> list[tuple[int, str, str]]:
    return [(s.step, s.kind, s.to) for s in steps]


def test_the_default_ladder_reminds_the_manager_then_escalates_to_the_lead() -> None:
    """Unless configured otherwise: a reminder to the account manager at the deadline, an
    escalation to the lead 8 business hours later."""
    assert [(s.after_business_hours, s.notify) for s in DEFAULT_STEPS] == [
        (0, "account_manager"), (8, "lead")]


@pytest.mark.parametrize(
    ("ladder_step", "now", "expected"),
    [
        pytest.param(0, berlin(24, 14, 59), [], id="a-minute-before-the-deadline"),
        pytest.param(0, berlin(24, 15), [(1, "reminder", ANN)], id="at-the-deadline"),
        pytest.param(1, berlin(25, 10), [], id="step-1-taken-3-business-hours-later"),
        pytest.param(1, berlin(25, 14, 59), [], id="a-minute-before-the-escalation"),
        pytest.param(1, berlin(25, 15), [(2, "escalation", LEAD)], id="8-business-hours-later"),
        pytest.param(2, berlin(25, 15), [], id="both-taken"),
        pytest.param(2, berlin(11, 12, month=12), [], id="both-taken-weeks-later"),
        pytest.param(0, berlin(27, 10), [(1, "reminder", ANN), (2, "escalation", LEAD)],
                     id="after-an-outage-both-in-order"),
    ],
)
def test_each_step_falls_due_once_at_its_time(
    ladder_step: int, now: datetime, expected: list[tuple[int, str, str]]
) -> None:
    """A step is due when its business hours after the deadline have passed and it was not
    taken yet (the item's ladder_step counts the steps taken); after an outage every step that
    fell due is still sent, in order."""
    item = tracked_item(deadline=DEADLINE, ladder_step=ladder_step)

    assert summary(due(item, now=now)) == expected


@pytest.mark.parametrize("status", ["acknowledged", "closed"])
def test_an_item_that_is_not_open_climbs_no_further(status: str) -> None:
    """An acknowledgment at any time stops the ladder: a closed item has no due steps."""
    item = tracked_item(deadline=DEADLINE, status=status)

    assert due(item, now=berlin(27, 16)) == []


def test_each_step_says_when_it_fell_due() -> None:
    """due_at is the step's own moment, not `now`: the deadline, then 8 business hours on."""
    steps = due(tracked_item(deadline=DEADLINE), now=berlin(27, 10))

    assert [s.due_at for s in steps] == [DEADLINE, berlin(25, 15)]


@pytest.mark.parametrize(
    ("now", "hours"),
    [
        pytest.param(berlin(24, 15), 0.0, id="at-the-deadline"),
        pytest.param(berlin(24, 16, 30), 1.5, id="same-evening"),
        pytest.param(berlin(24, 22), 2.0, id="after-closing"),
        pytest.param(berlin(25, 10), 3.0, id="next-morning"),
        pytest.param(berlin(28, 12), 26.0, id="saturday"),  # Tue 2 + Wed, Thu, Fri 8 each
    ],
)
def test_overdue_hours_count_business_hours_only(now: datetime, hours: float) -> None:
    """How late an item is, in business hours past the deadline: evenings and weekends do
    not count."""
    steps = due(tracked_item(deadline=DEADLINE), now=now)

    assert steps
    assert {s.overdue_hours for s in steps} == {hours}


@pytest.mark.parametrize(
    ("deadline", "not_yet", "escalation"),
    [
        pytest.param(berlin(27, 15), berlin(30, 14, 59), berlin(30, 15),
                     id="friday-deadline-skips-the-weekend"),
        pytest.param(berlin(24, 15, month=12), berlin(28, 14, 59, month=12),
                     berlin(28, 15, month=12), id="christmas-holidays-skipped"),
    ],
)
def test_weekends_and_holidays_are_not_business_hours(
    deadline: datetime, not_yet: datetime, escalation: datetime
) -> None:
    """Friday 15:00 + 8 business hours is Monday 15:00; Thursday 24 December 15:00 + 8 is
    Monday 28 December 15:00 (25 and 26 December are public holidays, then the weekend)."""
    item = tracked_item(deadline=deadline, ladder_step=1)

    assert due(item, now=not_yet) == []
    (step,) = due(item, now=escalation)
    assert (step.step, step.due_at) == (2, escalation)


BACKUP_STEPS = [EscalationStep(after_business_hours=0, notify="backup")]


@pytest.mark.parametrize(
    ("owner", "to"),
    [
        pytest.param(ANN, BOB, id="the-members-backup"),
        pytest.param(BOB, LEAD, id="no-backup-the-lead"),
    ],
)
def test_a_backup_step_goes_to_the_owners_backup_else_the_lead(owner: str, to: str) -> None:
    """A "backup" step notifies the owner's configured backup; without one, the lead."""
    (step,) = due(tracked_item(deadline=DEADLINE, owner=owner), now=DEADLINE,
                  steps=BACKUP_STEPS)

    assert (step.notify, step.kind, step.to) == ("backup", "escalation", to)


@pytest.mark.parametrize(
    ("notify", "owner", "to"),
    [
        ("account_manager", ANN, ANN),
        ("account_manager", BOB, BOB),
        ("backup", ANN, BOB),
        ("backup", BOB, LEAD),
        ("backup", "former@agency.test", LEAD),
        ("lead", ANN, LEAD),
        ("lead", BOB, LEAD),
    ],
)
def test_recipient_of_each_kind_of_step(notify: str, owner: str, to: str) -> None:
    """Who a step notifies: the owner; the owner's backup (the lead if none, or if the owner
    is no longer a member); or the lead."""
    assert recipient(notify, owner, CONFIG.team) == to


def team_with(lead_backup: str | None) -> TeamConfig:
    members = [m.model_copy(update={"backup": lead_backup}) if m.address == LEAD else m
               for m in CONFIG.team.members]
    return CONFIG.team.model_copy(update={"members": members})


def test_the_lead_handling_triage_is_reminded_once_never_escalated_to_himself() -> None:
    """Unassigned mail is the lead's: the reminder goes to him at the deadline; the
    escalation to "the lead" would tell him the same again, so with no backup the step is
    taken and sends nothing."""
    item = tracked_item(deadline=DEADLINE, owner=LEAD)

    steps = due(item, now=berlin(25, 15), team=team_with(None))

    assert [(s.step, s.kind, s.to, s.skipped) for s in steps] == [
        (1, "reminder", LEAD, False), (2, "escalation", "", True)]


def test_the_step_after_the_leads_reminder_goes_to_his_backup() -> None:
    """With a backup configured for the lead, the escalation goes there instead."""
    item = tracked_item(deadline=DEADLINE, owner=LEAD)

    steps = due(item, now=berlin(25, 15), team=team_with(BOB))

    assert summary(steps) == [(1, "reminder", LEAD), (2, "escalation", BOB)]


@pytest.mark.parametrize(
    ("notify", "expected"),
    [
        pytest.param(["account_manager", "backup", "lead"], [ANN, BOB, LEAD], id="all-new"),
        pytest.param(["account_manager", "account_manager"], [ANN, BOB], id="twice-the-owner"),
        pytest.param(["backup", "backup", "lead"], [BOB, "", LEAD], id="backup-told"),
        pytest.param(["lead", "lead", "lead"], [LEAD, BOB, ""], id="lead-thrice"),
    ],
)
def test_nobody_is_told_twice_about_one_item(notify: list[str], expected: list[str]) -> None:
    """Who each step tells, for Ann's client: a step aimed at someone told already goes to
    Ann's backup (Bob) if he was not told, else to nobody."""
    steps = [EscalationStep(after_business_hours=i, notify=n) for i, n in enumerate(notify)]

    assert recipients(steps, ANN, CONFIG.team) == expected


def test_the_dedupe_key_names_the_message_and_the_step() -> None:
    """The durable key of a step is stable: "ladder:<Message-ID>:<step>", whenever computed."""
    item = tracked_item(deadline=DEADLINE, message_id="<m7@acme.test>")

    early = due(item, now=berlin(25, 15))
    late = due(item, now=berlin(4, 9, month=12))

    assert [s.dedupe_key for s in early] == ["ladder:<m7@acme.test>:1", "ladder:<m7@acme.test>:2"]
    assert [s.dedupe_key for s in late] == [s.dedupe_key for s in early]


def test_items_are_served_oldest_first() -> None:
    """Several overdue items: the oldest message's steps come first."""
    older = tracked_item(deadline=DEADLINE, message_id="<old@acme.test>",
                         received_at=berlin(20, 9))
    newer = tracked_item(deadline=DEADLINE, message_id="<new@acme.test>")

    steps = due(newer, older, now=berlin(24, 15))

    assert [s.item.message_id for s in steps] == ["<old@acme.test>", "<new@acme.test>"]


# -- properties ----------------------------------------------------------------------------------

EPOCH = datetime(2026, 1, 1, tzinfo=BERLIN)

instants = st.integers(0, 365 * 24 * 60).map(lambda m: EPOCH + timedelta(minutes=m))
gaps = st.lists(st.integers(1, 5 * 24 * 60).map(lambda m: timedelta(minutes=m)),
                min_size=1, max_size=25)
ladders = st.lists(
    st.builds(EscalationStep,
              after_business_hours=st.sampled_from([0, 0.5, 1, 4, 8, 16, 40]),
              notify=st.sampled_from(["account_manager", "backup", "lead"])),
    min_size=1, max_size=4,
).map(lambda steps: sorted(steps, key=lambda s: s.after_business_hours))


@settings(max_examples=200, deadline=None)
@given(deadline=instants, start=instants, gaps=gaps, steps=ladders)
def test_windows_emit_every_step_at_most_once_in_order_never_early(
    deadline: datetime, start: datetime, gaps: list[timedelta], steps: list[EscalationStep]
) -> None:
    """However the windows fall (any deadline, any increasing sequence of `now`, the item's
    ladder_step fed back after each window as the store does): each step is emitted at most
    once in total, in order, never before the deadline and never before its own due time; and
    none is lost: long enough after the deadline, every step has been emitted."""
    item = tracked_item(deadline=deadline)
    emitted: list[int] = []
    now = start
    for gap in gaps:
        now += gap
        found = due(item, now=now, steps=steps)
        for step in found:
            assert now >= deadline
            assert deadline <= step.due_at <= now
        emitted += [s.step for s in found]
        told = [s.to for s in found if s.to]
        assert len(set(told)) == len(told), "nobody is told twice about one item"
        if found:
            item = tracked_item(deadline=deadline, ladder_step=found[-1].step)

    assert emitted == list(range(1, len(emitted) + 1))
    later = due(item, now=max(now, deadline) + timedelta(days=120), steps=steps)
    assert emitted + [s.step for s in later] == list(range(1, len(steps) + 1))
