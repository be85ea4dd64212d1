"""Writing a digest as mail: its plain-text and HTML parts, with the volume chart.

Apart from `digest` so that the rules of what a digest says read without the formatting of
how it looks (dates in the configured locale, ages, sparklines, CSS inlined for mail
clients). `digest` re-exports `render_digest` and `format_age` for its callers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import css_inline
import jinja2
from babel.dates import format_date, format_datetime
from markupsafe import Markup

from boundary_mail.chart import Series, sparkline, volume_chart_svg
from boundary_mail.config import Config
from boundary_mail.digest_data import LOAD_DAYS, SHORT_DAYS, Digest
from boundary_mail.templates import render
from boundary_mail.waiting_figures import shown_days


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    subject: str
    text: str
    html: str


def format_age(age: timedelta) -> str:
    """'3d 4h', '5h 10m', '12m': how long a message has been waiting."""
    minutes = max(0, int(age.total_seconds() // 60))
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m"


def _formatters(config: Config) -> dict[str, Callable[..., str]]:
    tz, locale = config.tz, config.default_language

    def moment(value: datetime) -> str:
        return format_datetime(value, "EEE d MMM HH:mm", tzinfo=tz, locale=locale)

    def clock(value: datetime) -> str:
        return format_datetime(value, "HH:mm", tzinfo=tz, locale=locale)

    def day(value: date) -> str:
        return format_date(value, "EEE d MMM", locale=locale)

    def allowance(value: float | None) -> str:
        return "—" if value is None else f"{value:g}" if value == int(value) else f"{value:.1f}"

    def pad(value: object, width: int) -> str:
        shown = str(value)
        shown = shown if len(shown) < width else shown[: width - 2] + "…"
        return shown.ljust(width)

    return {"moment": moment, "clock": clock, "day": day, "age": format_age,
            "allowance": allowance, "pad": pad, "days": shown_days}


def chart_svg(digest: Digest, locale: str) -> str:
    """The daily-volume chart of the digest's clients, as inline SVG markup."""
    labels = [
        format_date(d, "d MMM", locale=locale) if i % 7 == (len(digest.days) - 1) % 7 else ""
        for i, d in enumerate(digest.days)
    ]
    series = [Series(c.label, c.daily_messages, c.daily_followups) for c in digest.clients]
    return volume_chart_svg(
        series, labels, title=f"Messages and follow-ups per day, last {LOAD_DAYS} days"
    )


def _sparklines(digest: Digest) -> dict[str, str]:
    totals = {
        c.client: [m + f for m, f in zip(c.daily_messages, c.daily_followups, strict=True)]
        for c in digest.clients
    }
    peak = max((max(v, default=0) for v in totals.values()), default=0)
    return {name: sparkline(values, peak) for name, values in totals.items()}


INLINER = css_inline.CSSInliner(
    load_remote_stylesheets=False, keep_link_tags=False, keep_style_tags=False
)


def render_digest(env: jinja2.Environment, digest: Digest, config: Config) -> RenderedDigest:
    """Plain text and HTML (CSS inlined for mail clients; nothing remote) of one digest."""
    context: dict[str, Any] = {
        "digest": digest,
        "subject": digest.subject(config.default_language),
        "timezone": config.timezone,
        "team_name": config.smtp.from_name,
        "load_days": LOAD_DAYS,
        "short_days": SHORT_DAYS,
        "sparklines": _sparklines(digest),
        **_formatters(config),
    }
    text = render(env, "digest.txt.j2", **context)
    html = render(
        env, "digest.html.j2", **context, chart=Markup(chart_svg(digest, config.default_language))  # noqa: S704 - built and escaped by chart.py
    )
    return RenderedDigest(context["subject"], text, INLINER.inline(html))
