"""Jinja2 rendering: the user's templates folder overrides the shipped ones file by file.

HTML templates are autoescaped; undefined variables are errors, so a broken user template is
found by ``check-config`` rather than by a client.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date, format_time

# Every template the assistant renders; a user's templates_dir may override any of them.
TEMPLATE_NAMES = (
    "auto_reply.txt.j2", "auto_reply.html.j2", "first_contact.txt.j2", "contact_note.txt.j2",
    "alert.txt.j2", "ladder.txt.j2", "digest.txt.j2", "digest.html.j2",
    "redirect_notice.txt.j2", "route_failed.txt.j2", "export_index.html.j2",
    "cost_report.txt.j2", "cost_report.html.j2", "nudge.txt.j2", "waiting_report.txt.j2",
    "digest_waiting.txt.j2", "digest_waiting.html.j2",
)


def environment(user_dir: Path | None, locale: str) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if user_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(user_dir)))
    loaders.append(jinja2.PackageLoader("boundary_mail", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = lambda value: format_when(value, locale)
    env.filters["day"] = lambda value: format_day(value, locale)
    return env


def format_when(value: datetime, locale: str) -> str:
    """A concrete local moment in the configured language: 'Monday, November 23, 2026 10:00 AM'."""
    # Keyed by the zone too: aware datetimes of one instant are equal whatever their zone.
    return _when(value, value.tzinfo, locale)


def format_day(value: date, locale: str) -> str:
    """A day in the configured language: 'Monday, November 23, 2026' (of a datetime: its own
    date, as Babel takes it)."""
    return _day(value.date() if isinstance(value, datetime) else value, locale)


# Babel formatting is a large part of composing an auto-reply; the moments of one window's
# replies repeat (read at, answer by), and their days do.
@lru_cache(maxsize=4096)
def _when(value: datetime, zone: tzinfo | None, locale: str) -> str:
    return f"{_day(value.date(), locale)} {format_time(value, 'short', locale=locale)}"


@lru_cache(maxsize=1024)
def _day(value: date, locale: str) -> str:
    return format_date(value, "full", locale=locale)


def render(env: jinja2.Environment, name: str, /, **context: Any) -> str:
    return env.get_template(name).render(**context)
