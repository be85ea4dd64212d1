"""Promises after an outage: what a reply states is never in the past, and is what is enforced.

The service may be down for any stretch; the window that finally reads a message (a scheduled
one, or today's missed one run at start-up) sends the reply. That reply states when the message
is read and by when it is answered; the tracked item's read time and deadline are the same
values, so the escalation ladder never fires in the window that sent the promise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from boundary_mail.actions import AutoReply
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.decide import WindowMemory, plan_window
from boundary_mail.ladder import due_steps
from boundary_mail.plan import plan_ladder
from boundary_mail.snapshot import StateSnapshot
from tests.unit.factories import ANN, CARLA, agency, berlin, calendar_of, message, plan

CONFIG = agency()
CALENDAR = calendar_of(CONFIG)
START = berlin(23, 0)  # Monday 23 November 2026; the weeks after hold Christmas


def first_run(cal: BusinessCalendar, arrival: datetime, down_from: datetime,
              down_until: datetime) -> datetime:
    """When the service first runs a window at or after `arrival`: scheduled windows outside
    the outage [down_from, down_until) run on time; at down_until it starts and runs today's
    missed window at once, if any (the daemon's start-up rule)."""
    before = cal.windows_between(down_from - timedelta(days=30), down_from)
    runs = [w for w in cal.windows_between(arrival, arrival + timedelta(days=60))
            if not down_from <= w < down_until]
    if down_until >= arrival:
        missed = cal.missed_window(down_until, before[-1] if before else None)
        if missed is not None:
            runs.append(down_until)
    return min(runs)


minutes = st.integers(0, 40 * 24 * 60)


@settings(max_examples=200, deadline=None)
@given(minutes, st.integers(-3 * 24 * 60, 5 * 24 * 60), st.integers(0, 8 * 24 * 60))
def test_a_reply_never_states_a_time_before_its_date_and_states_the_enforced_deadline(
    arrival_minute: int, outage_offset: int, outage_length: int
) -> None:
    """Over random arrival times and outages: the reply's read time is not before its Date
    (the `now` of the window sending it), read time ≤ answer-by, the tracked item has the same
    read time and deadline, and the ladder finds nothing due in that window."""
    arrival = START + timedelta(minutes=arrival_minute)
    down_from = arrival + timedelta(minutes=outage_offset)
    now = first_run(CALENDAR, arrival, down_from, down_from + timedelta(minutes=outage_length))
    (decided,) = plan_window([message(CARLA, mailbox="ann", to=ANN, at=arrival)],
                             config=CONFIG, calendar=CALENDAR, state=StateSnapshot(), now=now)
    (reply,) = [a for a in decided.actions if isinstance(a, AutoReply)]
    promise, item = reply.promise, decided.track
    assert promise.read_at >= now, "the reply states a read time before its own Date"
    assert promise.read_at <= promise.answer_by
    assert item is not None
    assert (item.read_at, item.deadline) == (promise.read_at, promise.answer_by)
    assert due_steps([item], steps=CONFIG.escalation.steps, calendar=CALENDAR,
                     team=CONFIG.team, now=now) == []


def test_after_an_outage_from_monday_to_wednesday_thursdays_reply_promises_from_thursday() -> None:
    """Mail of Monday 09:00, first read by Thursday's 10:00 window (the service was down from
    Monday 10:00 to Wednesday 15:00): read Thursday 10:00, answer by Friday 15:00, not
    "read Monday 10:00, answer by Tuesday 15:00"; no reminder or escalation in that window."""
    thursday = berlin(26, 10)
    (decided,) = plan(message(CARLA, mailbox="ann", to=ANN, at=berlin(23, 9)), now=thursday)
    (reply,) = [a for a in decided.actions if isinstance(a, AutoReply)]
    assert (reply.promise.read_at, reply.promise.answer_by) == (thursday, berlin(27, 15))
    item = decided.track
    assert item is not None and item.deadline == berlin(27, 15)
    ladder = plan_ladder([], WindowMemory(tracked={item.message_id: item}), unread_owners=set(),
                         config=CONFIG, calendar=CALENDAR, now=thursday)
    assert ladder.steps == () and ladder.held == ()
    assert due_steps([item], steps=CONFIG.escalation.steps, calendar=CALENDAR,
                     team=CONFIG.team, now=berlin(26, 15)) == []
    (reminder,) = due_steps([item], steps=CONFIG.escalation.steps, calendar=CALENDAR,
                            team=CONFIG.team, now=berlin(27, 15))
    assert reminder.kind == "reminder"  # the ladder counts from the promise it made
