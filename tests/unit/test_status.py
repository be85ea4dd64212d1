"""What an operator reads in `status`: subjects as one safe line, and when the next check
windows and the next digest run, by the business calendar and in the configured zone."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from pathlib import Path

import pytest

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.store import Store
from boundary_mail.upcoming import next_digest, next_windows
from boundary_mail.views import format_status, shown_subject
from tests.unit.factories import agency, berlin, tracked_item

CONFIG = agency()  # windows 10:00 and 15:00 Mon-Fri, German public holidays, digest 17:30
CALENDAR = BusinessCalendar.from_config(CONFIG.schedule, CONFIG.tz)
DIGEST = CONFIG.schedule.digest_time


@pytest.mark.parametrize(("subject", "shown"), [
    ("Quote for the spring campaign", "Quote for the spring campaign"),
    ("Two\r\n lines\tand a tab", "Two lines and a tab"),
    ("\x1b[31mred\x1b[0m alert", "[31mred[0m alert"),  # no escape reaches the terminal
    ("invoice \u202egpj.exe", "invoice gpj.exe"),  # a bidi override is dropped
    ("zero\u200bwidth", "zerowidth"),
    ("", ""),
    ("x" * 60, "x" * 60),
    ("x" * 61, "x" * 59 + "…"),
    ("word " * 20, "word " * 11 + "word…"),
])
def test_a_subject_is_one_line_without_control_characters_cut_at_60(
    subject: str, shown: str
) -> None:
    """Control and format characters are removed, whitespace becomes single spaces, and a
    long subject is cut to 60 characters ending in an ellipsis."""
    assert shown_subject(subject) == shown
    assert len(shown_subject(subject)) <= 60


@pytest.mark.parametrize(("now", "windows", "digest"), [
    # Monday before the first window: both of today's windows; today's digest.
    (berlin(23, 8), [berlin(23, 10), berlin(23, 15)], berlin(23, 17, 30)),
    # Exactly at a window: that window is still to run.
    (berlin(23, 10), [berlin(23, 10), berlin(23, 15)], berlin(23, 17, 30)),
    # Monday between the windows: the afternoon's, then Tuesday's first.
    (berlin(23, 12), [berlin(23, 15), berlin(24, 10)], berlin(23, 17, 30)),
    # Friday evening after the digest: nothing at the weekend, Monday's windows and digest.
    (berlin(27, 18), [berlin(30, 10), berlin(30, 15)], berlin(30, 17, 30)),
    # Friday between the last window and the digest: Monday's windows, today's digest.
    (berlin(27, 16), [berlin(30, 10), berlin(30, 15)], berlin(27, 17, 30)),
    # Christmas Eve (a workday) evening: 25 and 26 Dec are public holidays, then Sunday.
    (berlin(24, 18, month=12), [berlin(28, 10, month=12), berlin(28, 15, month=12)],
     berlin(28, 17, 30, month=12)),
    # Thursday 31 Dec evening: New Year's Day is a holiday, then the weekend.
    (berlin(31, 16, month=12), [datetime(2027, 1, 4, 10, tzinfo=CONFIG.tz),
                                datetime(2027, 1, 4, 15, tzinfo=CONFIG.tz)],
     berlin(31, 17, 30, month=12)),
])
def test_the_next_windows_and_digest_skip_evenings_weekends_and_holidays(
    now: datetime, windows: list[datetime], digest: datetime
) -> None:
    """The next two check windows and the next digest are the calendar's: business days
    only, and a time still to come today counts."""
    assert next_windows(CALENDAR, now) == windows
    assert next_digest(CALENDAR, DIGEST, now) == digest


def test_the_next_digest_in_a_dst_gap_is_the_instant_after_the_gap() -> None:
    """A digest time that does not exist on the spring-forward day is read with the offset
    before the gap, as the calendar reads check windows: 02:30 becomes 03:30 CEST."""
    sunday_workdays = agency(schedule={"workdays": ["sun"]})
    calendar = BusinessCalendar.from_config(sunday_workdays.schedule, sunday_workdays.tz)
    at = next_digest(calendar, time(2, 30), datetime(2026, 3, 29, 0, tzinfo=CONFIG.tz))
    assert (at.hour, at.minute, at.tzname()) == (3, 30, "CEST")


def test_status_shows_each_items_subject_and_what_runs_next(tmp_path: Path) -> None:
    """Each open item has its subject line (cleaned and cut); the next two check windows
    and the next digest close the status, with their zone."""
    config = agency(state_dir=str(tmp_path / "state"))
    store = Store(config.state_file)
    try:
        item = dataclasses.replace(
            tracked_item(deadline=berlin(30, 15)),
            subject="Re: the\r\nproposal \x1b[2J" + " and more" * 10,
        )
        store.add_item(item, berlin(27, 10))
        text = format_status(store, config, berlin(27, 18))
    finally:
        store.close()
    lines = text.splitlines()
    subject = next(line for line in lines if line.strip().startswith("subject:"))
    cut = "Re: the proposal [2J and more and more and more and more an…"
    assert subject.strip() == f"subject: {cut}"
    assert "\x1b" not in text
    assert "next check windows: Mon 2026-11-30 10:00 CET, Mon 2026-11-30 15:00 CET" in lines
    assert "next digest: Mon 2026-11-30 17:30 CET" in lines
