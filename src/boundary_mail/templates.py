"""Jinja2 rendering, one language at a time: the user's templates folder overrides the shipped
ones file by file.

The layout (shipped in the package, and the same in a user's ``templates_dir``)::

    templates/auto_reply.txt.j2        English: the reference, and what team mail uses
    templates/de/auto_reply.txt.j2     the same template in German
    templates/da/…, templates/ru/…     Danish, Russian

A template in language L is looked up in ``L/`` (the user's, then ours), then at the top (the
user's, then ours). Adding a language, or one template to a language, is adding a file. What
a client reads (`languages.CLIENT_TEMPLATES`) must exist in the client's language: a missing
one is a config error, never English in a German reply (see `languages`).

HTML templates are autoescaped; undefined variables are errors, so a broken user template is
found by ``check-config`` rather than by a client.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import (
    format_date,
    format_datetime,
    format_time,
    get_datetime_format,
    get_timezone_location,
)
from babel.lists import format_list

# Every template the assistant renders; a user's templates_dir may override any of them.
TEMPLATE_NAMES = (
    "auto_reply.txt.j2", "auto_reply.html.j2", "first_contact.txt.j2", "contact_note.txt.j2",
    "alert.txt.j2", "ladder.txt.j2", "digest.txt.j2", "digest.html.j2",
    "redirect_notice.txt.j2", "route_failed.txt.j2", "export_index.html.j2",
    "cost_report.txt.j2", "cost_report.html.j2", "nudge.txt.j2", "waiting_report.txt.j2",
    "digest_waiting.txt.j2", "digest_waiting.html.j2",
    "redirect_notice.txt.j2", "route_failed.txt.j2", "announce.txt.j2", "signature.txt.j2",
    "signature.html.j2",
)
SHIPPED = Path(__file__).parent / "templates"


def language_dirs(language: str) -> tuple[str, ...]:
    """The folders a language's templates are looked up in, most specific first: "de_AT"
    looks in de_AT/ then de/; English lives at the top."""
    full = language.replace("-", "_")
    base = full.split("_")[0]
    return tuple(d for d in dict.fromkeys((full, base)) if d != "en")


class Templates(jinja2.Environment):
    """The templates of one language, its Babel locale in the `when`/`day` filters."""

    def __init__(self, user_dir: Path | None, language: str) -> None:
        roots = ([user_dir] if user_dir is not None else []) + [SHIPPED]
        # A folder that does not exist (yet) is simply passed over at each lookup, so a
        # language folder added to templates_dir is seen at the next reload.
        folders = [str(r / d) for d in language_dirs(language) for r in roots]
        folders += [str(r) for r in roots]
        super().__init__(
            loader=jinja2.FileSystemLoader(folders),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.user_dir = user_dir
        self.language = language
        # The same templates in other languages, made once per environment and shared.
        self.siblings: dict[str, Templates] = {language: self}
        self.filters["when"] = lambda value: format_when(value, language)
        self.filters["day"] = lambda value: format_day(value, language)
        # A date without its weekday ('7 декабря 2026 г.': a noun phrase that takes a case).
        self.filters["long_date"] = lambda value: format_date(value, "long",
                                                              locale=_babel(language))
        self.filters["clock"] = lambda value: format_clock(value, language)
        self.filters["number"] = lambda value: format_number(value, language)
        # CLDR's plural category of a count ("one", "few", "many", "other"), for the
        # languages whose nouns have more than two forms.
        self.filters["plural"] = lambda n: Locale.parse(_babel(language)).plural_form(n)
        self.filters["or_list"] = lambda items, start="“", end="”": format_list(
            [f"{start}{i}{end}" for i in items], style="or", locale=_babel(language))

    def in_language(self, language: str) -> Templates:
        """The same templates (same user folder) in another language, kept with this one:
        a window compiles each template once per language it writes in."""
        sibling = self.siblings.get(language)
        if sibling is None:
            sibling = Templates(self.user_dir, language)
            sibling.siblings = self.siblings
            self.siblings[language] = sibling
        return sibling


def environment(user_dir: Path | None, language: str) -> Templates:
    """The templates of `language`. Made anew by each window and command, so a template
    added or changed in templates_dir is used from the next one on."""
    return Templates(user_dir, language)


def localized(env: jinja2.Environment, language: str) -> jinja2.Environment:
    """`env` in `language` (an environment made elsewhere stays as it is)."""
    return env.in_language(language) if isinstance(env, Templates) else env


def format_when(value: datetime, locale: str) -> str:
    """A concrete local moment in the language, with its zone:
    'Monday, November 23, 2026, 10:00 AM CET'."""
    # Keyed by the zone too: aware datetimes of one instant are equal whatever their zone.
    return _when(value, value.tzinfo, locale)


def format_day(value: date, locale: str) -> str:
    """A day in the configured language: 'Monday, November 23, 2026' (of a datetime: its own
    date, as Babel takes it)."""
    return _day(value.date() if isinstance(value, datetime) else value, locale)


def format_clock(value: datetime, locale: str) -> str:
    """A time of day with its zone: '10:00 AM CET'."""
    return f"{format_time(value, 'short', locale=_babel(locale))} {zone_label(value, locale)}"


def format_number(value: float, locale: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, locale=_babel(locale))


def format_elsewhere(value: datetime, home: datetime, locale: str) -> str:
    """`value` (already in the other zone) as its clock time, with the weekday when its date
    is not `home`'s: '4:00 AM', or 'Sunday 11:00 PM'."""
    clock = format_time(value, "short", locale=_babel(locale))
    if value.date() == home.date():
        return clock
    return f"{format_date(value, 'EEEE', locale=_babel(locale))} {clock}"


def city_of(zone: ZoneInfo, locale: str) -> str:
    """The exemplar city of a zone in the language ('New York', 'Нью-Йорк')."""
    return str(get_timezone_location(zone, locale=_babel(locale), return_city=True))


def zone_label(value: datetime, locale: str) -> str:
    """The zone's short name as the language writes it ('CET', 'MEZ'), else the zone's own
    abbreviation ('EST', 'MSK'), else the offset ("GMT+04:00")."""
    return _zone_label(value.replace(tzinfo=None), value.tzinfo, value.utcoffset(), locale)


@lru_cache(maxsize=1024)
def _zone_label(naive: datetime, zone: tzinfo | None, offset: object, locale: str) -> str:
    value = naive.replace(tzinfo=zone)
    short = format_datetime(value, "z", locale=_babel(locale))
    if not any(c.isdigit() for c in short):
        return short
    own = value.tzname() or ""
    if own.isalpha():
        return own
    return format_datetime(value, "ZZZZ", locale=_babel(locale))


def _babel(language: str) -> str:
    return language.replace("-", "_")


# Babel formatting is a large part of composing an auto-reply; the moments of one window's
# replies repeat (read at, answer by), and their days do.
@lru_cache(maxsize=4096)
def _when(value: datetime, zone: tzinfo | None, locale: str) -> str:
    clock = f"{format_time(value, 'short', locale=_babel(locale))} {zone_label(value, locale)}"
    # The language's own way of joining a date and a time ("{1}, {0}" in most).
    joined = get_datetime_format("long", locale=_babel(locale))
    return str(joined).replace("{1}", _day(value.date(), locale)).replace("{0}", clock)


@lru_cache(maxsize=1024)
def _day(value: date, locale: str) -> str:
    return format_date(value, "full", locale=_babel(locale))


def render(env: jinja2.Environment, name: str, /, **context: Any) -> str:
    return env.get_template(name).render(**context)
