"""Local moments in the configured language, as the templates show them (Babel, cached)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from boundary_mail.templates import format_day, format_when

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")


def test_one_instant_in_two_zones_reads_as_two_local_times() -> None:
    """Aware datetimes of the same instant are equal in Python; the cache must still tell
    Berlin's 10:00 from Tokyo's 18:00."""
    berlin = datetime(2026, 11, 23, 10, tzinfo=BERLIN)
    tokyo = berlin.astimezone(TOKYO)
    assert berlin == tokyo

    assert format_when(berlin, "en") == "Monday, November 23, 2026 10:00\u202fAM"
    assert format_when(tokyo, "en") == "Monday, November 23, 2026 6:00\u202fPM"
    assert format_when(berlin.astimezone(UTC), "de") == "Montag, 23. November 2026 09:00"


def test_the_cached_text_is_babels() -> None:
    """The same text Babel gives uncached, in every locale, for moments and for days."""
    moment = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)  # just after the clocks went forward
    for locale in ("en", "de", "fr", "ja"):
        expected = (f"{format_date(moment, 'full', locale=locale)} "
                    f"{format_time(moment, 'short', locale=locale)}")
        assert format_when(moment, locale) == expected
        assert format_day(moment, locale) == format_date(moment, "full", locale=locale)
        assert format_day(date(2026, 3, 29), locale) == format_date(moment, "full", locale=locale)
