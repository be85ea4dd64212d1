"""What runs next: the next check windows and the next daily digest, for `status`.

Pure: `now` comes in, the calendar decides. The rules are those of the daemon's jobs:

- a check window runs at each configured time on business days (`BusinessCalendar`:
  workdays, public holidays skipped); the next ones are the first windows at or after `now`;
- the digest runs at ``schedule.digest_time`` on business days; the next one is the first
  business day whose digest time is at or after `now` (today's, if it is still to come).

Wall-clock times are read as the calendar reads them: the first occurrence of a time that
occurs twice, the offset before a DST gap for a time that does not exist (RFC 5545 §3.3.5),
which is what `zoneinfo` does with ``fold=0``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from boundary_mail.calendar import SEARCH_DAYS, BusinessCalendar

_TICK = timedelta(microseconds=1)


def next_windows(calendar: BusinessCalendar, now: datetime, count: int = 2) -> list[datetime]:
    """The next `count` check windows at or after `now`, in order, in the calendar's zone."""
    found: list[datetime] = []
    moment = now
    while len(found) < count:
        window = calendar.next_window(moment)
        found.append(window)
        moment = window + _TICK
    return found


def next_digest(calendar: BusinessCalendar, digest_time: time, now: datetime) -> datetime:
    """When the daily digest next goes out: `digest_time` on the first business day at or
    after `now` whose digest time has not passed. ValueError if no business day comes
    within `SEARCH_DAYS` days (as the calendar says of itself)."""
    tz = calendar.tz
    moment = now.astimezone(UTC)  # compared in UTC: same-zone datetimes compare by wall clock
    day = moment.astimezone(tz).date()
    for _ in range(SEARCH_DAYS + 1):
        # fold=0 (see the module docstring); through UTC, a time in a DST gap becomes the
        # instant it names.
        at = datetime.combine(day, digest_time.replace(fold=0), tzinfo=tz).astimezone(UTC)
        if calendar.is_business_day(day) and at >= moment:
            return at.astimezone(tz)
        day += timedelta(days=1)
    raise ValueError(f"no business day within {SEARCH_DAYS} days of {now.date()}")
