"""The business calendar: when a message is read, by when it is answered, business hours.

Pure core: no I/O, never reads the clock or the system time zone. The zone is given once, to
the calendar; instants passed in may be in any zone (they are converted first, and a naive
datetime is refused rather than guessed); every instant returned is in the calendar's zone.

The rules
---------
Business day
    A configured workday (``schedule.workdays``, any subset of the week) that is not a public
    holiday of ``schedule.holidays_country`` / ``holidays_subdivision`` (the ``holidays``
    package; observed-on days count as holidays where the country has them).
Check window
    A configured local wall-clock time (``schedule.check_windows``) on a business day. Mail is
    read only then: never on weekends or holidays.
Read time
    ``read_at`` is the first check window at or after the moment the message arrived. A message
    that arrives exactly at 10:00 on a workday is read at 10:00; one that arrives on Friday at
    16:05 (windows 10:00 and 15:00, Monday to Friday) is read on Monday at 10:00.
Answer-by
    ``answer_by`` is the *last* check window of the business day that lies N business days after
    the read day, where N is ``answer_within_business_days``. If N is 0, that is the read day
    itself. Friday 16:05 → read Monday 10:00 → with N = 1, answer by Tuesday 15:00. The promise
    in the auto-reply and the escalation deadline both come from this one calculation, so the
    sender and the escalation ladder never disagree.
Missed windows
    A window that did not run (the service was down, the machine asleep) is run at start-up or
    on waking only if it is the latest window so far of the current day, and only on a business
    day: `BusinessCalendar.missed_window`. Mail of earlier days waits for no old window; it is
    read by the next one that runs.
Reading late
    A reply never states a time before its own Date. When the promised read time has passed
    (windows did not run), the window running now reads the message: `promise_at` says read
    now, and counts answer-by from now's business day by the same rule (from the next business
    day when now's day is none), never before now. The tracked item keeps that same deadline.
Business hours
    ``schedule.business_hours`` (start, end) on business days, measured in elapsed time: a
    business day that contains a DST change is an hour shorter or longer. The escalation ladder
    counts "N business hours after the deadline" with `BusinessCalendar.add_business_hours`.
    Counting from a moment outside business hours starts at the next opening.

Daylight-saving time
--------------------
Windows and business hours are wall-clock times. A time that occurs twice when clocks go back
(the fold) means its first occurrence (``fold=0``). A time that does not exist when clocks go
forward (the gap) is read with the UTC offset in force before the gap, as RFC 5545 §3.3.5 does
for iCalendar: a 02:30 window on the Berlin spring-forward day becomes 03:30 CEST. Such a window
is moved, never skipped. All comparisons are between UTC instants, because Python compares two
datetimes that share a tzinfo by wall clock, which is wrong across a fold.

Every search is bounded: if no business day occurs within `SEARCH_DAYS` days (a pathological
combination of workdays and holidays), ValueError says so instead of looping. Instants outside
years 1-9999 also raise ValueError.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import ParamSpec, TypeVar

from boundary_mail.config import WEEKDAYS, ScheduleConfig

SEARCH_DAYS = 400  # more than a year: any sane workday/holiday config has a business day in it
_CACHE_DAYS = 4096  # about eleven years of days per cache; a daemon never needs more at once
_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class Promise:
    """What the auto-reply tells the sender and what the escalation ladder measures against."""

    received_at: datetime
    read_at: datetime
    answer_by: datetime


def _in_date_range(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Report arithmetic past year 1 or 9999 as the ValueError callers handle, not OverflowError."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except OverflowError:
            raise ValueError(
                "the date lies outside the range the calendar can compute (years 1-9999)"
            ) from None

    return wrapper


def _utc(moment: datetime) -> datetime:
    """The instant in UTC. A naive datetime is refused: guessing would read the system zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


def _first_at_or_after(instants: tuple[datetime, ...], moment: datetime) -> datetime | None:
    """The first of the sorted ``instants`` at or after ``moment``, if any."""
    i = bisect.bisect_left(instants, moment)
    return instants[i] if i < len(instants) else None


def _day_before(d: date) -> date:
    """The previous day; searches start there, except at the very first date there is."""
    return d - _DAY if d > date.min else d


class BusinessCalendar:
    """Check windows, business days and business hours in one time zone.

    Lookups are memoised per date (holidays, the day's windows, the day's opening hours), so a
    `promise` costs a few microseconds once the dates around it have been seen.
    """

    def __init__(
        self,
        tz: tzinfo,
        *,
        workdays: Iterable[int],
        windows: Iterable[time],
        business_hours: tuple[time, time] = (time(9), time(17)),
        holidays: Container[date] | None = None,
    ) -> None:
        """``workdays`` are ``date.weekday()`` numbers (Monday is 0); ``windows`` and
        ``business_hours`` are naive local wall-clock times; ``holidays`` is any container of
        dates (a ``holidays`` package calendar, or a set in tests)."""
        self.tz = tz
        self.workdays = frozenset(workdays)
        # fold=0 everywhere: a wall-clock time in the fold means its first occurrence.
        self.windows = tuple(sorted({w.replace(fold=0) for w in windows}))
        opens, closes = (t.replace(fold=0) for t in business_hours)
        self.business_hours = (opens, closes)
        self.holidays = holidays
        if not self.workdays or not self.workdays <= set(range(7)):
            raise ValueError("workdays must be a non-empty set of weekday numbers 0 (Mon)-6 (Sun)")
        if not self.windows:
            raise ValueError("at least one check window is needed")
        if any(t.tzinfo is not None for t in (*self.windows, opens, closes)):
            raise ValueError("check windows and business hours are local times without a zone")
        if opens >= closes:
            raise ValueError("business hours must open before they close")
        # Per-instance memos (a decorator on the methods would be shared by all instances).
        self._business_day = functools.lru_cache(maxsize=_CACHE_DAYS)(self._compute_business_day)
        self._windows_on = functools.lru_cache(maxsize=_CACHE_DAYS)(self._compute_windows_on)
        self._hours_on = functools.lru_cache(maxsize=_CACHE_DAYS)(self._compute_hours_on)

    @classmethod
    def from_config(cls, schedule: ScheduleConfig, tz: tzinfo) -> BusinessCalendar:
        """The calendar the config describes; the holiday calendar is built here, once."""
        return cls(
            tz,
            workdays=(WEEKDAYS.index(day) for day in schedule.workdays),
            windows=schedule.check_windows,
            business_hours=schedule.business_hours,
            holidays=_public_holidays(schedule.holidays_country, schedule.holidays_subdivision),
        )

    def __repr__(self) -> str:
        days = ",".join(WEEKDAYS[d] for d in sorted(self.workdays))
        windows = ",".join(f"{w:%H:%M}" for w in self.windows)
        return f"BusinessCalendar({self.tz}, workdays={days}, windows={windows})"

    # -- public API ---------------------------------------------------------------------------

    def is_business_day(self, d: date) -> bool:
        """A configured workday that is not a public holiday."""
        return self._business_day(d)

    @_in_date_range
    def promise(self, received_at: datetime, answer_within_business_days: int) -> Promise:
        """When a message that arrived at ``received_at`` is read and by when it is answered."""
        if answer_within_business_days < 0:
            raise ValueError("answer_within_business_days must be 0 or more")
        received = _utc(received_at)
        read_day, read = self._first_window(received)
        answer_day = read_day
        for _ in range(answer_within_business_days):
            answer_day = self._next_business_day(answer_day)
        answer_by = self._windows_on(answer_day)[-1]
        return Promise(
            received_at=received.astimezone(self.tz),
            read_at=read.astimezone(self.tz),
            answer_by=answer_by.astimezone(self.tz),
        )

    @_in_date_range
    def promise_at(
        self, received_at: datetime, now: datetime, answer_within_business_days: int
    ) -> Promise:
        """What a reply sent at ``now`` promises and the tracked item enforces: `promise`,
        unless its read time is before ``now``; then read ``now`` (by the window running), and
        answer by the last window N business days after now's day (the next business day if
        now's is none), never before ``now``."""
        usual = self.promise(received_at, answer_within_business_days)
        moment = _utc(now)
        if usual.read_at >= moment:
            return usual
        day = self._local_date(moment)
        if not self._business_day(day):
            day = self._next_business_day(day)
        for _ in range(answer_within_business_days):
            day = self._next_business_day(day)
        answer_by = max(self._windows_on(day)[-1], moment)
        return Promise(usual.received_at, moment.astimezone(self.tz), answer_by.astimezone(self.tz))

    @_in_date_range
    def missed_window(self, now: datetime, last_run: datetime | None) -> datetime | None:
        """The window to run at once at start-up or on waking: the latest window at or before
        ``now`` on now's own day, if that is a business day and the window is after
        ``last_run`` (the last window that ran; None: unknown). Never an earlier day's."""
        moment = _utc(now)
        passed = [w for w in self._windows_on(self._local_date(moment)) if w <= moment]
        if not passed or (last_run is not None and _utc(last_run) >= passed[-1]):
            return None
        return passed[-1].astimezone(self.tz)

    @_in_date_range
    def next_window(self, t: datetime) -> datetime:
        """The first check window at or after ``t`` (the read time of a message arriving then)."""
        return self._first_window(_utc(t))[1].astimezone(self.tz)

    @_in_date_range
    def windows_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every check window in [start, end), in order; a window moved out of a DST gap onto
        the instant of another window is listed once."""
        lo, hi = _utc(start), _utc(end)
        if hi <= lo:
            return []
        day, last = _day_before(self._local_date(lo)), self._local_date(hi)
        found: set[datetime] = set()
        while day <= last:
            found.update(w for w in self._windows_on(day) if lo <= w < hi)
            day += _DAY
        return [w.astimezone(self.tz) for w in sorted(found)]

    @_in_date_range
    def is_after_hours(self, t: datetime) -> bool:
        """True unless ``t`` lies inside business hours on a business day."""
        moment = _utc(t)
        day = self._local_date(moment)
        for d in (_day_before(day), day):  # a DST gap can push yesterday's closing past midnight
            hours = self._hours_on(d)
            if hours is not None and hours[0] <= moment < hours[1]:
                return False
        return True

    @_in_date_range
    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The moment when ``hours`` business hours have passed since ``start``.

        From outside business hours, counting starts at the next opening; a count that uses up
        a day exactly ends at its closing time. ``hours=0`` returns ``start`` itself.
        """
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite number of 0 or more, not {hours!r}")
        moment = _utc(start)
        if hours == 0:
            return moment.astimezone(self.tz)
        left = timedelta(hours=hours)
        for opens, closes in self._opening_hours_from(moment):
            if closes <= moment:
                continue
            begin = max(opens, moment)
            if left <= closes - begin:
                return (begin + left).astimezone(self.tz)
            left -= closes - begin
        raise AssertionError("unreachable: opening hours never run out")  # pragma: no cover

    @_in_date_range
    def business_hours_between(self, a: datetime, b: datetime) -> float:
        """Business hours elapsed from ``a`` to ``b``; 0 if ``b`` is not after ``a``."""
        lo, hi = _utc(a), _utc(b)
        if hi <= lo:
            return 0.0
        total = timedelta()
        for opens, closes in self._opening_hours_from(lo):
            if opens >= hi:
                break
            overlap = min(closes, hi) - max(opens, lo)
            if overlap > timedelta():
                total += overlap
        return total / _HOUR

    # -- the searches -------------------------------------------------------------------------

    def _first_window(self, moment: datetime) -> tuple[date, datetime]:
        """The first window at or after the UTC ``moment``, with the business day it belongs to."""
        # Start a day early: a DST gap just before midnight can push a window into the next day.
        day = _day_before(self._local_date(moment))
        for _ in range(SEARCH_DAYS):
            found = _first_at_or_after(self._windows_on(day), moment)
            if found is not None:
                # Only a gap-pushed window can reach into the next day, and then the next day's
                # own earlier window comes first. Rare, but the promise must be the first window.
                tomorrow = day + _DAY
                later = _first_at_or_after(self._windows_on(tomorrow), moment)
                if later is not None and later < found:
                    return tomorrow, later
                return day, found
            day += _DAY
        raise self._no_business_day(day)

    def _next_business_day(self, day: date) -> date:
        """The first business day after ``day``."""
        for _ in range(SEARCH_DAYS):
            day += _DAY
            if self._business_day(day):
                return day
        raise self._no_business_day(day)

    def _opening_hours_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Business-hours intervals (UTC) in order, from the day before ``moment``'s local date.

        Consecutive intervals never overlap (a gap-pushed closing is clipped), so summing them
        never counts an hour twice. Endless, except for the guard against a calendar without
        business days.
        """
        day = _day_before(self._local_date(moment))
        previous_close = datetime.min.replace(tzinfo=UTC)
        idle = 0
        while True:
            hours = self._hours_on(day)
            if hours is None:
                idle += 1
                if idle > SEARCH_DAYS:
                    raise self._no_business_day(day)
            else:
                idle = 0
                opens, closes = max(hours[0], previous_close), hours[1]
                if closes > opens:
                    yield opens, closes
                    previous_close = closes
            day += _DAY

    # -- per-date facts (memoised in __init__) --------------------------------------------------

    def _compute_business_day(self, d: date) -> bool:
        if d.weekday() not in self.workdays:
            return False
        return self.holidays is None or d not in self.holidays

    def _compute_windows_on(self, d: date) -> tuple[datetime, ...]:
        """The day's windows as sorted UTC instants; none if it is not a business day.

        Sorted by instant, not by wall clock: a window moved out of a gap (02:30 → 03:30) can
        land after a later-listed one (03:15).
        """
        if not self._business_day(d):
            return ()
        return tuple(sorted({self._instant(d, w) for w in self.windows}))

    def _compute_hours_on(self, d: date) -> tuple[datetime, datetime] | None:
        """The day's business hours as a UTC interval; None if it is not a business day."""
        if not self._business_day(d):
            return None
        opens = self._instant(d, self.business_hours[0])
        closes = self._instant(d, self.business_hours[1])
        return opens, max(opens, closes)  # both in one gap: an empty day, not a negative one

    def _instant(self, d: date, wall: time) -> datetime:
        """The UTC instant of a local wall-clock time: fold=0 in a fold; in a gap, the offset
        before the gap (RFC 5545 §3.3.5), which zoneinfo applies to fold=0 gap times."""
        return datetime.combine(d, wall, tzinfo=self.tz).astimezone(UTC)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def _no_business_day(self, near: date) -> ValueError:
        return ValueError(
            f"no business day within {SEARCH_DAYS} days before {near.isoformat()}: every day is"
            f" a non-workday or a holiday ({self!r}); add workdays or check the holiday settings"
        )


def _public_holidays(country: str | None, subdivision: str | None) -> Container[date] | None:
    """The ``holidays`` package calendar for the country; it fills itself lazily per year."""
    if not country:
        return None
    import holidays  # heavy; only needed when the config names a country

    code = country.upper()
    subdiv = None
    if subdivision:
        # The package spells subdivisions its own way ("BE", "Augsburg"); the config check
        # matches them case-insensitively, so do the same here.
        known = holidays.list_supported_countries().get(code, [])
        subdiv = next((s for s in known if s.upper() == subdivision.upper()), subdivision)
    return holidays.country_holidays(code, subdiv=subdiv)
