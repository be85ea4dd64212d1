"""The business calendar: read time, answer-by, business days, business hours, DST.

The tables are the specification by example; the hypothesis properties at the end state the
rules for any schedule, zone and instant. Times in the tables are written as local wall clock
with the weekday, e.g. ``"Fri 2026-03-06 16:05"``; the weekday is checked, so a table cannot
quietly name the wrong day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundary_mail.calendar import SEARCH_DAYS, BusinessCalendar, Promise
from boundary_mail.config import WEEKDAYS, ScheduleConfig

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def at(text: str, zone: tzinfo = BERLIN, *, fold: int = 0) -> datetime:
    """``"Fri 2026-03-06 16:05"`` → an aware datetime; the weekday must match the date."""
    weekday, _, stamp = text.partition(" ")
    moment = datetime.fromisoformat(stamp).replace(tzinfo=zone, fold=fold)
    assert f"{moment:%a}" == weekday, f"{stamp} is a {moment:%a}, not a {weekday}"
    return moment


def calendar(zone: tzinfo = BERLIN, **schedule: object) -> BusinessCalendar:
    return BusinessCalendar.from_config(ScheduleConfig(**schedule), zone)  # type: ignore[arg-type]


# Monday to Friday, windows 10:00 and 15:00, business hours 09:00-17:00, Berlin's holidays.
OFFICE = calendar(holidays_country="DE", holidays_subdivision="BE")
EVERY_DAY_BERLIN = calendar(
    workdays=list(WEEKDAYS), holidays_country="DE", holidays_subdivision="BE"
)


def assert_same(actual: datetime, expected: datetime, zone: tzinfo = BERLIN) -> None:
    """Same instant, shown in the calendar's zone with the same offset (the wall clock a
    sender reads in the auto-reply)."""
    assert actual.tzinfo is zone
    assert actual.astimezone(UTC) == expected.astimezone(UTC), f"{actual} != {expected}"
    assert actual.utcoffset() == expected.utcoffset(), f"{actual} != {expected}"


@dataclass(frozen=True)
class Case:
    rule: str
    received: str
    read: str
    answer_by: str


def cases(*rows: Case) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", rows, ids=[row.rule for row in rows])


# -- read time and answer-by ----------------------------------------------------------------


@cases(
    Case("before the first window: read at it",
         "Mon 2026-03-02 09:59", "Mon 2026-03-02 10:00", "Tue 2026-03-03 15:00"),
    Case("exactly at a window: read at once",
         "Mon 2026-03-02 10:00", "Mon 2026-03-02 10:00", "Tue 2026-03-03 15:00"),
    Case("a microsecond after a window: wait for the next one",
         "Mon 2026-03-02 10:00:00.000001", "Mon 2026-03-02 15:00", "Tue 2026-03-03 15:00"),
    Case("between windows: the next one",
         "Mon 2026-03-02 12:30", "Mon 2026-03-02 15:00", "Tue 2026-03-03 15:00"),
    Case("exactly at the last window: read at once",
         "Mon 2026-03-02 15:00", "Mon 2026-03-02 15:00", "Tue 2026-03-03 15:00"),
    Case("after the last window: next business morning",
         "Mon 2026-03-02 15:01", "Tue 2026-03-03 10:00", "Wed 2026-03-04 15:00"),
    Case("at midnight: that morning",
         "Tue 2026-03-03 00:00", "Tue 2026-03-03 10:00", "Wed 2026-03-04 15:00"),
    Case("just before midnight: the next morning",
         "Mon 2026-03-02 23:59:59.999999", "Tue 2026-03-03 10:00", "Wed 2026-03-04 15:00"),
    Case("Friday evening waits for Monday",
         "Fri 2026-03-06 16:05", "Mon 2026-03-09 10:00", "Tue 2026-03-10 15:00"),
    Case("Saturday waits for Monday",
         "Sat 2026-03-07 11:00", "Mon 2026-03-09 10:00", "Tue 2026-03-10 15:00"),
    Case("Sunday just before midnight: Monday's first window",
         "Sun 2026-03-08 23:59", "Mon 2026-03-09 10:00", "Tue 2026-03-10 15:00"),
    Case("Christmas Eve is a working day in Germany",
         "Wed 2026-12-23 16:00", "Thu 2026-12-24 10:00", "Mon 2026-12-28 15:00"),
    Case("Christmas Day and Boxing Day are holidays",
         "Thu 2026-12-24 15:30", "Mon 2026-12-28 10:00", "Tue 2026-12-29 15:00"),
    Case("New Year's Eve evening: first business day of January (New Year's Day is a holiday)",
         "Thu 2026-12-31 18:00", "Mon 2027-01-04 10:00", "Tue 2027-01-05 15:00"),
    Case("Easter: Good Friday and Easter Monday are holidays",
         "Thu 2027-03-25 16:00", "Tue 2027-03-30 10:00", "Wed 2027-03-31 15:00"),
    Case("the answer day skips holidays too",
         "Thu 2027-03-25 12:00", "Thu 2027-03-25 15:00", "Tue 2027-03-30 15:00"),
    Case("Women's Day (8 March) is a holiday in Berlin",
         "Fri 2027-03-05 16:00", "Tue 2027-03-09 10:00", "Wed 2027-03-10 15:00"),
)
def test_read_at_the_first_window_and_answer_by_the_last_window_one_business_day_later(
    case: Case,
) -> None:
    """Read at the first check window at or after arrival on a business day; with N = 1,
    answer by the last check window of the next business day."""
    promise = OFFICE.promise(at(case.received), 1)
    assert_same(promise.read_at, at(case.read))
    assert_same(promise.answer_by, at(case.answer_by))
    assert_same(promise.received_at, at(case.received))


@pytest.mark.parametrize(
    ("received", "n", "answer_by"),
    [
        ("Mon 2026-03-02 09:00", 0, "Mon 2026-03-02 15:00"),
        ("Mon 2026-03-02 09:00", 1, "Tue 2026-03-03 15:00"),
        ("Mon 2026-03-02 09:00", 2, "Wed 2026-03-04 15:00"),
        ("Mon 2026-03-02 09:00", 5, "Mon 2026-03-09 15:00"),
        ("Wed 2026-12-23 09:00", 0, "Wed 2026-12-23 15:00"),
        ("Wed 2026-12-23 09:00", 1, "Thu 2026-12-24 15:00"),
        ("Wed 2026-12-23 09:00", 2, "Mon 2026-12-28 15:00"),
        ("Wed 2026-12-23 09:00", 5, "Thu 2026-12-31 15:00"),
        ("Wed 2026-12-23 09:00", 6, "Mon 2027-01-04 15:00"),
        ("Fri 2026-03-06 16:05", 0, "Mon 2026-03-09 15:00"),
    ],
)
def test_answer_by_counts_n_business_days_from_the_read_day(
    received: str, n: int, answer_by: str
) -> None:
    """N = 0 is the last window of the read day; each further N is one more business day,
    skipping weekends and holidays."""
    assert_same(OFFICE.promise(at(received), n).answer_by, at(answer_by))


def test_a_client_with_a_longer_response_window_gets_a_later_answer_by_only() -> None:
    """The per-client N moves answer_by, never read_at."""
    received = at("Fri 2026-03-06 16:05")
    promises = [OFFICE.promise(received, n) for n in (0, 1, 2, 5)]
    assert {p.read_at for p in promises} == {at("Mon 2026-03-09 10:00")}
    assert [p.answer_by.date() for p in promises] == [
        date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 16)
    ]


def test_windows_can_be_any_times_and_workdays_any_subset_of_the_week() -> None:
    """One window on Tuesdays only: everything waits for Tuesday; N = 1 is the next Tuesday."""
    tuesdays = calendar(workdays=["tue"], check_windows=["11:30"])
    promise = tuesdays.promise(at("Tue 2026-03-03 11:31"), 1)
    assert_same(promise.read_at, at("Tue 2026-03-10 11:30"))
    assert_same(promise.answer_by, at("Tue 2026-03-17 11:30"))


# -- time zones of the input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "read"),
    [
        (datetime(2026, 3, 6, 15, 5, tzinfo=UTC), "Mon 2026-03-09 10:00"),  # Fri 16:05 Berlin
        (at("Fri 2026-03-06 10:05", NEW_YORK), "Mon 2026-03-09 10:00"),  # the same instant
        (at("Mon 2026-03-02 23:30", NEW_YORK), "Tue 2026-03-03 10:00"),  # Tue 05:30 Berlin
        (datetime(2026, 3, 8, 23, 30, tzinfo=UTC), "Mon 2026-03-09 10:00"),  # Mon 00:30 Berlin
        (datetime(2026, 3, 2, 8, 30, tzinfo=UTC), "Mon 2026-03-02 10:00"),  # Mon 09:30 Berlin
    ],
)
def test_input_in_any_zone_is_read_in_the_calendars_zone(received: datetime, read: str) -> None:
    """Instants may arrive in UTC or any zone; the calendar's own local date and wall clock
    decide, and every returned instant is in the calendar's zone."""
    promise = OFFICE.promise(received, 1)
    assert_same(promise.read_at, at(read))
    assert promise.received_at == received and promise.received_at.tzinfo is BERLIN


def test_a_naive_datetime_is_refused() -> None:
    """Guessing a naive time's zone means reading the system zone, which the core never does."""
    with pytest.raises(ValueError, match="no time zone"):
        OFFICE.promise(datetime(2026, 3, 2, 10), 1)


# -- daylight-saving time -------------------------------------------------------------------

SUNDAY_NIGHT = calendar(workdays=["sun"], check_windows=["02:30"])
SUNDAY_NIGHT_NY = calendar(NEW_YORK, workdays=["sun"], check_windows=["02:30"])
SUNDAY_NIGHT_LH = calendar(LORD_HOWE, workdays=["sun"], check_windows=["02:15"])
NY_OFFICE = calendar(NEW_YORK)


@pytest.mark.parametrize(
    ("cal", "received", "read", "answer_by", "zone"),
    [
        pytest.param(OFFICE, at("Fri 2026-03-27 16:00"), at("Mon 2026-03-30 10:00"),
                     at("Tue 2026-03-31 15:00"), BERLIN, id="Berlin spring forward weekend"),
        pytest.param(OFFICE, at("Fri 2026-10-23 16:00"), at("Mon 2026-10-26 10:00"),
                     at("Tue 2026-10-27 15:00"), BERLIN, id="Berlin fall back weekend"),
        pytest.param(NY_OFFICE, at("Fri 2026-03-06 16:05", NEW_YORK),
                     at("Mon 2026-03-09 10:00", NEW_YORK), at("Tue 2026-03-10 15:00", NEW_YORK),
                     NEW_YORK, id="New York spring forward weekend"),
        pytest.param(NY_OFFICE, at("Fri 2026-10-30 16:05", NEW_YORK),
                     at("Mon 2026-11-02 10:00", NEW_YORK), at("Tue 2026-11-03 15:00", NEW_YORK),
                     NEW_YORK, id="New York fall back weekend"),
    ],
)
def test_windows_keep_their_wall_clock_time_across_dst(
    cal: BusinessCalendar, received: datetime, read: datetime, answer_by: datetime, zone: tzinfo
) -> None:
    """10:00 stays 10:00 local after the clocks change (the UTC offset changes instead)."""
    promise = cal.promise(received, 1)
    assert_same(promise.read_at, read, zone)
    assert_same(promise.answer_by, answer_by, zone)


@pytest.mark.parametrize(
    ("cal", "received", "read", "zone"),
    [
        pytest.param(SUNDAY_NIGHT, at("Sun 2026-03-29 01:00"), at("Sun 2026-03-29 03:30"),
                     BERLIN, id="Berlin: 02:30 does not exist, the window is at 03:30"),
        pytest.param(SUNDAY_NIGHT, at("Sun 2026-03-29 03:10"), at("Sun 2026-03-29 03:30"),
                     BERLIN, id="Berlin: after the gap but before the moved window"),
        pytest.param(SUNDAY_NIGHT, at("Sun 2026-03-29 03:30"), at("Sun 2026-03-29 03:30"),
                     BERLIN, id="Berlin: exactly at the moved window"),
        pytest.param(SUNDAY_NIGHT, at("Sun 2026-03-29 03:31"), at("Sun 2026-04-05 02:30"),
                     BERLIN, id="Berlin: after the moved window, next week"),
        pytest.param(SUNDAY_NIGHT_NY, at("Sun 2026-03-08 01:59", NEW_YORK),
                     at("Sun 2026-03-08 03:30", NEW_YORK), NEW_YORK, id="New York gap"),
        pytest.param(SUNDAY_NIGHT_LH, at("Sun 2026-10-04 00:00", LORD_HOWE),
                     at("Sun 2026-10-04 02:45", LORD_HOWE), LORD_HOWE,
                     id="Lord Howe: a 30-minute gap moves 02:15 to 02:45"),
    ],
)
def test_a_window_in_the_spring_forward_gap_is_moved_by_the_gap_never_skipped(
    cal: BusinessCalendar, received: datetime, read: datetime, zone: tzinfo
) -> None:
    """A wall-clock time that does not exist is read with the offset before the gap
    (RFC 5545 §3.3.5): 02:30 on the Berlin spring-forward day is 03:30 CEST."""
    assert_same(cal.promise(received, 0).read_at, read, zone)
    assert_same(cal.next_window(received), read, zone)


@pytest.mark.parametrize(
    ("received", "read"),
    [
        pytest.param(at("Sun 2026-10-25 00:00"), at("Sun 2026-10-25 02:30"),
                     id="before the fold: the first 02:30 (CEST)"),
        pytest.param(at("Sun 2026-10-25 02:40"), at("Sun 2026-11-01 02:30"),
                     id="after the first 02:30: the second 02:30 (CET) is no window"),
        pytest.param(at("Sun 2026-10-25 02:10", fold=1), at("Sun 2026-11-01 02:30"),
                     id="during the repeated hour"),
    ],
)
def test_a_window_in_the_fall_back_fold_is_its_first_occurrence(
    received: datetime, read: datetime
) -> None:
    """02:30 happens twice on the Berlin fall-back day; the window is the first (fold=0)."""
    read_at = SUNDAY_NIGHT.promise(received, 0).read_at
    assert_same(read_at, read)
    assert read_at.utcoffset() == (timedelta(hours=2) if read.day == 25 else timedelta(hours=1))


def test_a_moved_window_can_overtake_a_later_one_and_last_means_latest() -> None:
    """Windows 02:30 and 03:00 on the gap day happen at 03:00 and 03:30: reading starts at
    03:00, and the day's last window (for answer-by) is the moved 03:30."""
    cal = calendar(workdays=["sun"], check_windows=["02:30", "03:00"])
    day = (at("Sun 2026-03-29 00:00"), at("Mon 2026-03-30 00:00"))
    assert cal.windows_between(*day) == [at("Sun 2026-03-29 03:00"), at("Sun 2026-03-29 03:30")]
    promise = cal.promise(at("Sun 2026-03-29 01:00"), 0)
    assert_same(promise.read_at, at("Sun 2026-03-29 03:00"))
    assert_same(promise.answer_by, at("Sun 2026-03-29 03:30"))


def test_two_windows_moved_onto_one_instant_are_one_check() -> None:
    """02:30 moved by the gap lands on 03:30: one check window, not two."""
    cal = calendar(workdays=["sun"], check_windows=["02:30", "03:30"])
    day = (at("Sun 2026-03-29 00:00"), at("Mon 2026-03-30 00:00"))
    assert cal.windows_between(*day) == [at("Sun 2026-03-29 03:30")]


# -- next_window and windows_between ----------------------------------------------------------


def test_next_window_is_the_read_time() -> None:
    """next_window(t) is exactly the read_at of a message that arrives at t."""
    for text in ("Mon 2026-03-02 09:59", "Mon 2026-03-02 10:00", "Fri 2026-03-06 16:05"):
        assert OFFICE.next_window(at(text)) == OFFICE.promise(at(text), 1).read_at


def test_windows_between_lists_every_window_in_the_half_open_range() -> None:
    """[start, end): a window at start is in, a window at end is out; weekends have none."""
    assert OFFICE.windows_between(at("Fri 2026-03-06 10:00"), at("Mon 2026-03-09 15:00")) == [
        at("Fri 2026-03-06 10:00"), at("Fri 2026-03-06 15:00"), at("Mon 2026-03-09 10:00")
    ]
    assert OFFICE.windows_between(at("Sat 2026-03-07 00:00"), at("Mon 2026-03-09 00:00")) == []
    assert OFFICE.windows_between(at("Mon 2026-03-09 15:00"), at("Mon 2026-03-09 10:00")) == []


# -- missed windows and reading late --------------------------------------------------------


@dataclass(frozen=True)
class Missed:
    rule: str
    now: str
    last_run: str | None
    runs: str | None


@pytest.mark.parametrize("case", [
    Missed("down at 10:00, started 10:03: the 10:00 window runs at once",
           "Thu 2026-03-05 10:03", "Wed 2026-03-04 15:00", "Thu 2026-03-05 10:00"),
    Missed("started at 16:00 after both windows of the day: once, the latest",
           "Thu 2026-03-05 16:00", "Wed 2026-03-04 15:00", "Thu 2026-03-05 15:00"),
    Missed("started at noon after missing the morning window: it runs",
           "Thu 2026-03-05 12:00", "Wed 2026-03-04 15:00", "Thu 2026-03-05 10:00"),
    Missed("started at noon, the morning window ran: nothing until 15:00",
           "Thu 2026-03-05 12:00", "Thu 2026-03-05 10:00", None),
    Missed("the scheduled window itself, fired on time",
           "Thu 2026-03-05 10:00", "Wed 2026-03-04 15:00", "Thu 2026-03-05 10:00"),
    Missed("before the day's first window: yesterday's missed window does not run",
           "Thu 2026-03-05 09:59", "Wed 2026-03-04 10:00", None),
    Missed("Monday morning after a Friday outage: nothing from Friday",
           "Mon 2026-03-09 09:00", "Thu 2026-03-05 15:00", None),
    Missed("Monday 10:30 after a Friday outage: Monday's own 10:00 only",
           "Mon 2026-03-09 10:30", "Thu 2026-03-05 15:00", "Mon 2026-03-09 10:00"),
    Missed("a Saturday: no window runs", "Sat 2026-03-07 12:00", "Thu 2026-03-05 15:00", None),
    Missed("Christmas Day, a holiday on a Friday: no window runs",
           "Fri 2026-12-25 16:00", "Wed 2026-12-23 15:00", None),
    Missed("the window ran already", "Thu 2026-03-05 10:03", "Thu 2026-03-05 10:00", None),
    Missed("nothing recorded: not known to have run, so it runs",
           "Thu 2026-03-05 10:03", None, "Thu 2026-03-05 10:00"),
    Missed("the Monday after the spring-forward Sunday: 10:00 CEST",
           "Mon 2026-03-30 10:03", "Fri 2026-03-27 15:00", "Mon 2026-03-30 10:00"),
    Missed("the Monday after the fall-back Sunday: 15:00 CET",
           "Mon 2026-10-26 15:30", "Mon 2026-10-26 10:00", "Mon 2026-10-26 15:00"),
], ids=lambda case: case.rule)
def test_a_missed_window_of_today_runs_at_start_never_one_of_an_earlier_day(
    case: Missed,
) -> None:
    """At start-up or on waking, on a business day, the latest window at or before now runs
    at once unless it ran already; windows of earlier days, weekends and holidays never."""
    last_run = at(case.last_run) if case.last_run else None
    missed = OFFICE.missed_window(at(case.now), last_run)
    if case.runs is None:
        assert missed is None
    else:
        assert missed is not None
        assert_same(missed, at(case.runs))


@pytest.mark.parametrize(
    ("now", "last_run", "runs"),
    [
        pytest.param(at("Sun 2026-03-29 03:35"), None, at("Sun 2026-03-29 03:30"),
                     id="the 02:30 window moved by the gap to 03:30 CEST"),
        pytest.param(at("Sun 2026-03-29 03:10"), None, None,
                     id="after the gap, before the moved window"),
        pytest.param(at("Sun 2026-10-25 02:40"), None, at("Sun 2026-10-25 02:30"),
                     id="the fold: the first 02:30 (CEST)"),
        pytest.param(at("Sun 2026-10-25 02:40", fold=1), at("Sun 2026-10-25 02:30"), None,
                     id="the repeated hour: the second 02:30 is no window"),
    ],
)
def test_missed_windows_on_dst_days_are_the_moved_or_first_occurrence(
    now: datetime, last_run: datetime | None, runs: datetime | None
) -> None:
    """A window in the gap is moved, in the fold it is its first occurrence: the same
    instants `promise` uses are the ones a late start runs."""
    missed = SUNDAY_NIGHT.missed_window(now, last_run)
    assert missed == runs
    if runs is not None:
        assert missed is not None and missed.utcoffset() == runs.utcoffset()


@pytest.mark.parametrize(
    ("received", "now", "n", "read", "answer_by"),
    [
        pytest.param("Mon 2026-03-02 09:00", "Mon 2026-03-02 10:00", 1,
                     "Mon 2026-03-02 10:00", "Tue 2026-03-03 15:00",
                     id="read on time: the usual promise"),
        pytest.param("Mon 2026-03-02 10:30", "Mon 2026-03-02 10:30", 1,
                     "Mon 2026-03-02 15:00", "Tue 2026-03-03 15:00",
                     id="read time still ahead: the usual promise"),
        pytest.param("Mon 2026-03-02 09:00", "Thu 2026-03-05 10:00", 1,
                     "Thu 2026-03-05 10:00", "Fri 2026-03-06 15:00",
                     id="down Monday to Wednesday: read Thursday, answer by Friday"),
        pytest.param("Thu 2026-03-05 09:00", "Thu 2026-03-05 10:03", 1,
                     "Thu 2026-03-05 10:03", "Fri 2026-03-06 15:00",
                     id="started 10:03: read at 10:03, the same answer-by"),
        pytest.param("Fri 2026-03-06 09:00", "Mon 2026-03-09 10:00", 1,
                     "Mon 2026-03-09 10:00", "Tue 2026-03-10 15:00",
                     id="down on Friday: read Monday, answer by Tuesday"),
        pytest.param("Thu 2026-03-05 09:00", "Sat 2026-03-07 11:00", 1,
                     "Sat 2026-03-07 11:00", "Tue 2026-03-10 15:00",
                     id="read on a Saturday: counted from Monday"),
        pytest.param("Mon 2026-03-02 09:00", "Thu 2026-03-05 10:00", 0,
                     "Thu 2026-03-05 10:00", "Thu 2026-03-05 15:00",
                     id="N = 0: the read day's last window"),
        pytest.param("Mon 2026-03-02 09:00", "Thu 2026-03-05 16:00", 0,
                     "Thu 2026-03-05 16:00", "Thu 2026-03-05 16:00",
                     id="N = 0 after the day's last window: never before now"),
        pytest.param("Wed 2026-12-23 09:00", "Mon 2026-12-28 10:00", 1,
                     "Mon 2026-12-28 10:00", "Tue 2026-12-29 15:00",
                     id="over Christmas"),
        pytest.param("Fri 2026-03-27 09:00", "Mon 2026-03-30 10:00", 1,
                     "Mon 2026-03-30 10:00", "Tue 2026-03-31 15:00",
                     id="over the spring-forward weekend"),
    ],
)
def test_a_promise_whose_read_time_passed_is_read_now_and_counted_from_now(
    received: str, now: str, n: int, read: str, answer_by: str
) -> None:
    """A reply never states a time before its own Date: when the windows that should have
    read the message did not run, it is read now and answer-by counts from now's day."""
    promise = OFFICE.promise_at(at(received), at(now), n)
    assert_same(promise.received_at, at(received))
    assert_same(promise.read_at, at(read))
    assert_same(promise.answer_by, at(answer_by))


# -- business days and holidays --------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "business"),
    [
        pytest.param(date(2026, 12, 24), True, id="Christmas Eve is a working day"),
        pytest.param(date(2026, 12, 25), False, id="Christmas Day"),
        pytest.param(date(2026, 12, 26), False, id="Boxing Day"),
        pytest.param(date(2027, 1, 1), False, id="New Year's Day"),
        pytest.param(date(2027, 3, 26), False, id="Good Friday"),
        pytest.param(date(2027, 3, 29), False, id="Easter Monday"),
        pytest.param(date(2027, 3, 8), False, id="Women's Day in Berlin"),
        pytest.param(date(2026, 3, 7), True, id="an ordinary Saturday, with every day a workday"),
    ],
)
def test_public_holidays_of_the_configured_country_and_subdivision_are_not_business_days(
    day: date, business: bool
) -> None:
    """Holidays come from the holidays package for DE / BE, on top of the workdays."""
    assert EVERY_DAY_BERLIN.is_business_day(day) is business


def test_workdays_decide_without_holidays() -> None:
    """Without a holidays_country only the workdays count; the subdivision matters too."""
    plain = calendar()
    assert plain.is_business_day(date(2026, 12, 25))
    assert not plain.is_business_day(date(2026, 12, 26))  # a Saturday
    germany = calendar(holidays_country="DE")
    assert germany.is_business_day(date(2027, 3, 8))  # Women's Day is Berlin's, not Germany's


def test_country_and_subdivision_are_matched_case_insensitively() -> None:
    """The config check accepts "de"/"be", so the calendar must understand them too."""
    assert not calendar(holidays_country="de", holidays_subdivision="be").is_business_day(
        date(2027, 3, 8)
    )


# -- business hours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        pytest.param("Mon 2026-03-02 10:00", 2, "Mon 2026-03-02 12:00", id="within a day"),
        pytest.param("Mon 2026-03-02 09:00", 0.25, "Mon 2026-03-02 09:15", id="a quarter hour"),
        pytest.param("Mon 2026-03-02 16:00", 2, "Tue 2026-03-03 10:00", id="overnight"),
        pytest.param("Fri 2026-03-06 16:00", 2, "Mon 2026-03-09 10:00", id="over the weekend"),
        pytest.param("Sat 2026-03-07 12:00", 1, "Mon 2026-03-09 10:00",
                     id="from the weekend: counting starts at the next opening"),
        pytest.param("Mon 2026-03-02 07:00", 1, "Mon 2026-03-02 10:00",
                     id="from before opening"),
        pytest.param("Mon 2026-03-02 17:00", 1, "Tue 2026-03-03 10:00", id="from closing time"),
        pytest.param("Mon 2026-03-02 09:00", 8, "Mon 2026-03-02 17:00",
                     id="a full day ends at closing time"),
        pytest.param("Mon 2026-03-02 09:00", 8.5, "Tue 2026-03-03 09:30", id="a day and a half"),
        pytest.param("Mon 2026-03-02 10:00", 40, "Mon 2026-03-09 10:00", id="a working week"),
        pytest.param("Wed 2026-12-23 16:00", 10, "Mon 2026-12-28 10:00", id="over Christmas"),
        pytest.param("Fri 2026-03-27 16:00", 2, "Mon 2026-03-30 10:00", id="over the DST weekend"),
        pytest.param("Mon 2026-03-02 07:00", 0, "Mon 2026-03-02 07:00",
                     id="zero hours: the start itself, even outside hours"),
    ],
)
def test_add_business_hours_counts_only_time_inside_business_hours_on_business_days(
    start: str, hours: float, end: str
) -> None:
    """09:00-17:00 on business days; nights, weekends and holidays do not count."""
    assert_same(OFFICE.add_business_hours(at(start), hours), at(end))


@pytest.mark.parametrize(
    ("a", "b", "hours"),
    [
        pytest.param("Fri 2026-03-06 16:00", "Mon 2026-03-09 10:00", 2, id="over the weekend"),
        pytest.param("Mon 2026-03-02 08:00", "Mon 2026-03-02 18:00", 8, id="a whole day"),
        pytest.param("Mon 2026-03-02 09:00", "Mon 2026-03-09 09:00", 40, id="a working week"),
        pytest.param("Wed 2026-12-23 12:00", "Tue 2026-12-29 12:00", 24, id="over Christmas"),
        pytest.param("Sat 2026-03-07 00:00", "Sun 2026-03-08 23:59", 0, id="a weekend"),
        pytest.param("Tue 2026-03-03 12:00", "Mon 2026-03-02 12:00", 0, id="backwards"),
    ],
)
def test_business_hours_between_two_instants(a: str, b: str, hours: float) -> None:
    """The business hours that elapse from a to b; 0 when b is not after a."""
    assert OFFICE.business_hours_between(at(a), at(b)) == pytest.approx(hours)


def test_business_hours_are_elapsed_time_on_a_dst_day() -> None:
    """00:00-06:00 lasts five hours when clocks go forward and seven when they go back."""
    night = calendar(workdays=list(WEEKDAYS), business_hours=["00:00", "06:00"])
    spring = night.business_hours_between(at("Sun 2026-03-29 00:00"), at("Sun 2026-03-29 12:00"))
    autumn = night.business_hours_between(at("Sun 2026-10-25 00:00"), at("Sun 2026-10-25 12:00"))
    assert (spring, autumn) == (5.0, 7.0)


@pytest.mark.parametrize(
    ("moment", "after_hours"),
    [
        pytest.param(at("Mon 2026-03-02 08:59"), True, id="before opening"),
        pytest.param(at("Mon 2026-03-02 09:00"), False, id="at opening"),
        pytest.param(at("Mon 2026-03-02 16:59:59"), False, id="just before closing"),
        pytest.param(at("Mon 2026-03-02 17:00"), True, id="at closing"),
        pytest.param(at("Sat 2026-03-07 12:00"), True, id="a Saturday"),
        pytest.param(at("Fri 2026-12-25 12:00"), True, id="Christmas Day"),
        pytest.param(datetime(2026, 3, 2, 8, 30, tzinfo=UTC), False, id="09:30 Berlin, in UTC"),
    ],
)
def test_after_hours_means_outside_business_hours_or_not_a_business_day(
    moment: datetime, after_hours: bool
) -> None:
    """The digest's after-hours share counts messages that arrive outside [open, close)."""
    assert OFFICE.is_after_hours(moment) is after_hours


# -- refusals and guards ----------------------------------------------------------------------


class _EveryDay:
    """A holiday list that contains every date: a calendar without a single business day."""

    def __contains__(self, item: object) -> bool:
        return True


def test_a_calendar_without_business_days_raises_instead_of_looping() -> None:
    """Every search gives up after SEARCH_DAYS days with a message naming the cause."""
    cal = BusinessCalendar(BERLIN, workdays=[1], windows=[time(10)], holidays=_EveryDay())
    start = at("Mon 2026-03-02 10:00")
    message = f"no business day within {SEARCH_DAYS} days"
    with pytest.raises(ValueError, match=message):
        cal.promise(start, 1)
    with pytest.raises(ValueError, match=message):
        cal.add_business_hours(start, 1)
    with pytest.raises(ValueError, match=message):
        cal.business_hours_between(start, start + timedelta(days=800))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: OFFICE.promise(at("Mon 2026-03-02 10:00"), -1), id="negative N"),
        pytest.param(lambda: OFFICE.add_business_hours(at("Mon 2026-03-02 10:00"), -1),
                     id="negative hours"),
        pytest.param(lambda: OFFICE.add_business_hours(at("Mon 2026-03-02 10:00"), math.nan),
                     id="NaN hours"),
        pytest.param(lambda: OFFICE.add_business_hours(at("Mon 2026-03-02 10:00"), math.inf),
                     id="infinite hours"),
        pytest.param(lambda: OFFICE.promise(datetime(9999, 12, 31, 12, tzinfo=UTC), 1),
                     id="past year 9999"),
        pytest.param(lambda: BusinessCalendar(BERLIN, workdays=[], windows=[time(10)]),
                     id="no workdays"),
        pytest.param(lambda: BusinessCalendar(BERLIN, workdays=[7], windows=[time(10)]),
                     id="no such weekday"),
        pytest.param(lambda: BusinessCalendar(BERLIN, workdays=[0], windows=[]), id="no windows"),
        pytest.param(lambda: BusinessCalendar(BERLIN, workdays=[0], windows=[time(10)],
                                              business_hours=(time(17), time(9))),
                     id="business hours closing before opening"),
    ],
)
def test_nonsense_is_a_value_error(call: object) -> None:
    """Every refusal is a ValueError the caller can report, never a hang or an OverflowError."""
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_the_first_day_there_is_still_works() -> None:
    """Searches look one day back for DST reasons, but not before 0001-01-01 (a Monday)."""
    assert OFFICE.next_window(datetime(1, 1, 1, tzinfo=UTC)).date() == date(1, 1, 1)


# -- properties -------------------------------------------------------------------------------

ZONES = [ZoneInfo(name) for name in
         ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")]
DE_BE = holidays.country_holidays("DE", subdiv="BE")

clocks = st.one_of(
    st.sampled_from([time(0), time(2), time(2, 15), time(2, 30), time(3), time(23, 59)]),
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31, 23, 59),
    timezones=st.sampled_from(ZONES),
)
hours_amounts = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 8.0, 24.0]),
                          st.floats(0, 100, allow_nan=False))
PROPERTY = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Setup:
    schedule: ScheduleConfig
    zone: ZoneInfo
    cal: BusinessCalendar

    def is_business_day(self, day: date) -> bool:
        """Independent of the calendar under test: weekday names and the holidays package."""
        holiday = self.schedule.holidays_country is not None and day in DE_BE
        return WEEKDAYS[day.weekday()] in self.schedule.workdays and not holiday

    def windows_of(self, day: date) -> list[datetime]:
        """The day's windows by the documented rule: wall clock, fold=0, gap read with the
        offset before it (which is what normalising a fold=0 time through UTC does)."""
        if not self.is_business_day(day):
            return []
        return [datetime.combine(day, w, tzinfo=self.zone).astimezone(UTC)
                for w in self.schedule.check_windows]

    def windows_from_day_before(self, first: datetime, last: datetime) -> list[datetime]:
        day = first.astimezone(self.zone).date() - timedelta(days=1)
        out: list[datetime] = []
        while day <= last.astimezone(self.zone).date():
            out += self.windows_of(day)
            day += timedelta(days=1)
        return out


@st.composite
def setups(draw: st.DrawFn) -> Setup:
    hours = sorted(draw(st.lists(clocks, min_size=2, max_size=2, unique=True)))
    country = draw(st.sampled_from([None, "DE"]))
    schedule = ScheduleConfig(
        workdays=draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True)),
        check_windows=draw(st.lists(clocks, min_size=1, max_size=4, unique=True)),
        business_hours=(hours[0], hours[1]),
        holidays_country=country,
        holidays_subdivision="BE" if country else None,
    )
    zone = draw(st.sampled_from(ZONES))
    return Setup(schedule, zone, BusinessCalendar.from_config(schedule, zone))


@PROPERTY
@given(setups(), instants)
def test_read_at_is_the_first_window_on_a_business_day_at_or_after_arrival(
    setup: Setup, received: datetime
) -> None:
    """read_at ≥ received_at; it is a configured window of a business day (never a holiday);
    and no such window lies in [received_at, read_at)."""
    read = setup.cal.promise(received, 1).read_at
    assert read.tzinfo is setup.zone
    assert read.astimezone(UTC) >= received.astimezone(UTC)
    assert read.astimezone(UTC) in setup.windows_from_day_before(read, read)
    skipped = [w for w in setup.windows_from_day_before(received, read)
               if received.astimezone(UTC) <= w < read.astimezone(UTC)]
    assert skipped == []
    assert setup.cal.next_window(received) == read
    assert setup.cal.windows_between(received, read) == []


@PROPERTY
@given(setups(), instants, st.integers(0, 6))
def test_answer_by_is_the_last_window_n_business_days_after_the_read_day(
    setup: Setup, received: datetime, n: int
) -> None:
    """answer_by ≥ read_at, is the latest window of its day, and N business days lie between
    the read day and the answer day."""
    promise = setup.cal.promise(received, n)
    assert promise.answer_by.astimezone(UTC) >= promise.read_at.astimezone(UTC)
    read_day = promise.read_at.astimezone(setup.zone).date()
    answer_day = promise.answer_by.astimezone(setup.zone).date()
    assert promise.answer_by.astimezone(UTC) == max(setup.windows_of(answer_day))
    between = [read_day + timedelta(days=i + 1) for i in range((answer_day - read_day).days)]
    assert sum(map(setup.is_business_day, between)) == n


@PROPERTY
@given(setups(), instants, instants, st.integers(0, 5), st.integers(0, 5))
def test_later_mail_or_a_longer_response_window_never_gets_an_earlier_promise(
    setup: Setup, a: datetime, b: datetime, n: int, m: int
) -> None:
    """read_at and answer_by are monotone in received_at and in N."""
    (a, b), (n, m) = sorted((a, b), key=lambda t: t.astimezone(UTC)), sorted((n, m))
    early, late = setup.cal.promise(a, n), setup.cal.promise(b, n)
    assert early.read_at.astimezone(UTC) <= late.read_at.astimezone(UTC)
    assert early.answer_by.astimezone(UTC) <= late.answer_by.astimezone(UTC)
    longer = setup.cal.promise(a, m)
    assert early.answer_by.astimezone(UTC) <= longer.answer_by.astimezone(UTC)


@PROPERTY
@given(setups(), instants)
def test_mail_arriving_at_a_window_is_read_in_that_window(
    setup: Setup, received: datetime
) -> None:
    """promise(read_at).read_at == read_at: the read time is a fixed point."""
    read = setup.cal.promise(received, 0).read_at
    again = setup.cal.promise(read, 0)
    assert again.read_at == read and again.read_at.utcoffset() == read.utcoffset()


@PROPERTY
@given(setups(), instants, hours_amounts)
def test_adding_business_hours_and_measuring_them_agree(
    setup: Setup, start: datetime, hours: float
) -> None:
    """add_business_hours(start, h) ≥ start, business_hours_between gives h back, and a
    positive count ends inside business hours (at the latest, at closing time)."""
    end = setup.cal.add_business_hours(start, hours)
    assert end.astimezone(UTC) >= start.astimezone(UTC)
    assert setup.cal.business_hours_between(start, end) == pytest.approx(hours, abs=1e-6)
    if timedelta(hours=hours) > timedelta(0):  # datetimes resolve microseconds, no finer
        # In UTC: aware arithmetic in a local zone is wall-clock and drops `fold`.
        assert not setup.cal.is_after_hours(end.astimezone(UTC) - timedelta(microseconds=1))


@PROPERTY
@given(setups(), instants, instants, instants)
def test_business_hours_between_adds_up(
    setup: Setup, a: datetime, b: datetime, c: datetime
) -> None:
    """Counting a→b then b→c equals counting a→c; and never more than the elapsed time."""
    a, b, c = sorted((a, b, c), key=lambda t: t.astimezone(UTC))
    between = setup.cal.business_hours_between
    assert between(a, b) + between(b, c) == pytest.approx(between(a, c), abs=1e-6)
    elapsed = c.astimezone(UTC) - a.astimezone(UTC)  # not wall-clock: DST days differ
    assert between(a, c) <= elapsed / timedelta(hours=1) + 1e-9


@PROPERTY
@given(setups(), instants, instants)
def test_a_missed_window_is_todays_latest_window_not_yet_run(
    setup: Setup, now: datetime, last_run: datetime
) -> None:
    """missed_window is None, or a window of now's business day, at or before now, after
    last_run, with no window of that day between it and now."""
    missed = setup.cal.missed_window(now, last_run)
    today = [w for w in setup.windows_of(now.astimezone(setup.zone).date())
             if w <= now.astimezone(UTC)]
    if not today or max(today) <= last_run.astimezone(UTC):
        assert missed is None
    else:
        assert missed is not None and missed.tzinfo is setup.zone
        assert missed.astimezone(UTC) == max(today)


@PROPERTY
@given(setups(), instants, instants, st.integers(0, 5))
def test_a_promise_made_at_now_never_states_a_time_before_now(
    setup: Setup, received: datetime, now: datetime, n: int
) -> None:
    """promise_at: read_at ≥ now and ≥ received_at, read_at ≤ answer_by; the usual promise
    when its read time is still ahead."""
    promise = setup.cal.promise_at(received, now, n)
    usual = setup.cal.promise(received, n)
    moment = now.astimezone(UTC)
    assert promise.read_at.astimezone(UTC) >= moment
    assert promise.read_at.astimezone(UTC) >= received.astimezone(UTC)
    assert promise.read_at.astimezone(UTC) <= promise.answer_by.astimezone(UTC)
    assert promise.answer_by.astimezone(UTC) >= usual.answer_by.astimezone(UTC)
    if usual.read_at.astimezone(UTC) >= moment:
        assert promise == usual


def test_promise_is_plain_frozen_data() -> None:
    """A Promise travels inside durable actions: frozen, comparable, no behaviour."""
    promise = OFFICE.promise(at("Fri 2026-03-06 16:05"), 1)
    assert isinstance(promise, Promise)
    with pytest.raises(AttributeError):
        promise.read_at = promise.answer_by  # type: ignore[misc]
    assert promise == OFFICE.promise(datetime(2026, 3, 6, 15, 5, tzinfo=UTC), 1)
