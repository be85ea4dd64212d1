"""Local moments in the configured language, as the templates show them (Babel, cached)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time, get_datetime_format

from boundary_mail.templates import (
    city_of,
    format_day,
    format_elsewhere,
    format_when,
    zone_label,
)

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")


def test_one_instant_in_two_zones_reads_as_two_local_times() -> None:
    """Aware datetimes of the same instant are equal in Python; the cache must still tell
    Berlin's 10:00 from Tokyo's 18:00."""
    berlin = datetime(2026, 11, 23, 10, tzinfo=BERLIN)
    tokyo = berlin.astimezone(TOKYO)
    assert berlin == tokyo

    assert format_when(berlin, "en") == "Monday, November 23, 2026, 10:00\u202fAM CET"
    assert format_when(tokyo, "en") == "Monday, November 23, 2026, 6:00\u202fPM JST"
    assert format_when(berlin.astimezone(UTC), "de") == "Montag, 23. November 2026, 09:00 UTC"
    assert format_when(berlin, "da") == "mandag den 23. november 2026 10.00 CET"
    assert format_when(berlin, "ru") == "понедельник, 23 ноября 2026\u202fг., 10:00 CET"


def test_the_cached_text_is_babels() -> None:
    """The same text Babel gives uncached, in every locale, for moments and for days."""
    moment = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)  # just after the clocks went forward
    for locale in ("en", "de", "fr", "ja"):
        expected = get_datetime_format("long", locale=locale).format(
            f"{format_time(moment, 'short', locale=locale)} {zone_label(moment, locale)}",
            format_date(moment, "full", locale=locale),
        )
        assert format_when(moment, locale) == expected
        assert format_day(moment, locale) == format_date(moment, "full", locale=locale)
        assert format_day(date(2026, 3, 29), locale) == format_date(moment, "full", locale=locale)


@pytest.mark.parametrize(("zone", "month", "locale", "label"), [
    ("Europe/Berlin", 11, "en", "CET"),
    ("Europe/Berlin", 7, "en", "CEST"),
    ("Europe/Berlin", 11, "de", "MEZ"),  # as a German reader writes it
    ("Europe/Copenhagen", 11, "da", "CET"),
    ("Europe/Moscow", 11, "ru", "MSK"),
    ("America/New_York", 11, "en", "EST"),
    ("UTC", 11, "en", "UTC"),
    ("Asia/Dubai", 11, "en", "GMT+04:00"),  # no abbreviation anywhere: the offset
])
def test_every_time_names_its_zone(zone: str, month: int, locale: str, label: str) -> None:
    """The zone's short name in the reader's language, else the zone's abbreviation, else
    its offset: never a bare clock time."""
    moment = datetime(2026, month, 23, 10, tzinfo=ZoneInfo(zone))

    assert zone_label(moment, locale) == label
    assert format_when(moment, locale).endswith(f" {label}")


def test_the_clients_own_clock_names_the_weekday_when_the_day_differs() -> None:
    """Berlin's Monday 10:00 is 4:00 AM the same day in New York; Monday 3:00 is Sunday
    evening there, and says so."""
    new_york = ZoneInfo("America/New_York")
    morning = datetime(2026, 11, 23, 10, tzinfo=BERLIN)
    night = datetime(2026, 11, 23, 3, tzinfo=BERLIN)

    assert format_elsewhere(morning.astimezone(new_york), morning, "en") == "4:00\u202fAM"
    assert format_elsewhere(night.astimezone(new_york), night, "en") == "Sunday 9:00\u202fPM"
    assert format_elsewhere(night.astimezone(new_york), night, "de") == "Sonntag 21:00"
    assert city_of(new_york, "ru") == "Нью-Йорк"
