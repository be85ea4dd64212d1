"""Measured both ways: how long we wait for each client, against how long they wait for us.

Pure. For each client and local calendar month (of the day the ball went over):

- *their turns*: the waits that started in that month (`waiting`); each lasts from the team
  member's message to the client's answer (or a person's `done`), or, while open, until now;
- *our turns*: the client's tracked messages received in that month (`tracking`); each lasts
  from its arrival to our acknowledgment, or, while open, until now.

Both are counted in business days of the schedule's calendar: business hours between the two
moments over the hours of one business day (Monday 10:00 to Wednesday 14:00 with 09:00-17:00
is 7 + 8 + 5 = 20 hours, 2.5 business days). Shown: their count, median and longest wait,
and our count and median, so a client who takes a week for a one-day answer is visible, and
so is a team that is slow itself. The digest lists each person's open waits oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import Config
from boundary_mail.tracking import TrackedItem
from boundary_mail.waiting import (
    WaitingItem,
    business_day_hours,
    business_days_between,
    open_waits_of,
    rules_for,
)


@dataclass(frozen=True, slots=True)
class TurnFigures:
    """One client's month, both ways (business days; None: no turn that month)."""

    client: str
    month: str  # "2026-11", local
    their_turns: int
    their_median: float | None
    their_longest: float | None
    our_turns: int
    our_median: float | None


@dataclass(frozen=True, slots=True)
class ClientWait:
    """One open wait as a person reads it."""

    message_id: str
    client: str
    member: str
    to: tuple[str, ...]
    subject: str
    sent_at: datetime
    waited_days: float
    nudges: int
    max_nudges: int
    reported: bool


def turn_figures(
    waits: Iterable[WaitingItem], items: Iterable[TrackedItem], *, config: Config,
    calendar: BusinessCalendar, now: datetime,
) -> list[TurnFigures]:
    """Every (client, month) with a turn either way, by client, then month."""
    day_hours = business_day_hours(config)
    tz = config.tz
    theirs: dict[tuple[str, str], list[float]] = {}
    ours: dict[tuple[str, str], list[float]] = {}
    for wait in waits:
        start = wait.start.sent_at
        if start > now:
            continue
        end = wait.ended_at if wait.ended_at is not None else now
        key = (wait.start.client, f"{start.astimezone(tz):%Y-%m}")
        theirs.setdefault(key, []).append(business_days_between(calendar, day_hours, start, end))
    for item in items:
        if not item.client or item.received_at > now:
            continue
        end = item.acknowledged_at if item.acknowledged_at is not None else now
        key = (item.client, f"{item.received_at.astimezone(tz):%Y-%m}")
        ours.setdefault(key, []).append(
            business_days_between(calendar, day_hours, item.received_at, end))
    return [
        TurnFigures(
            client=client, month=month, their_turns=len(theirs.get((client, month), [])),
            their_median=_median(theirs.get((client, month))),
            their_longest=max(theirs[(client, month)]) if (client, month) in theirs else None,
            our_turns=len(ours.get((client, month), [])),
            our_median=_median(ours.get((client, month))),
        )
        for client, month in sorted(theirs.keys() | ours.keys())
    ]


def _median(values: Sequence[float] | None) -> float | None:
    return median(values) if values else None


def client_waits(
    waits: Sequence[WaitingItem], member: str | None, *, config: Config,
    calendar: BusinessCalendar, now: datetime,
) -> tuple[ClientWait, ...]:
    """Open waits of one member (None: everyone's), oldest first."""
    day_hours = business_day_hours(config)
    return tuple(
        ClientWait(
            message_id=w.message_id, client=w.start.client, member=w.start.member,
            to=w.start.to, subject=w.start.subject, sent_at=w.start.sent_at,
            waited_days=business_days_between(calendar, day_hours, w.start.sent_at, now),
            nudges=w.nudges, max_nudges=rules_for(config, w.start.client).max_nudges,
            reported=w.reported_at is not None,
        )
        for w in open_waits_of(waits, member) if w.start.sent_at <= now
    )


def shown_days(value: float | None) -> str:
    """'2.5', or '—' for no turn."""
    return "—" if value is None else f"{value:.1f}"
