"""The "How we work together" document, and the times a client reads, in their language.

The document states the response promise as the schedule makes it (workdays, check windows,
answer-by days, holidays only when a holiday calendar is configured), the point of contact,
the urgent rules only when urgent keywords or a channel are configured (naming the real
keywords), and of the agreement only what `[agreement]` and the client's own table set.
It is rendered from ``first_contact.txt.j2`` in the client's language; its first line is its
title, which also names the attached file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_time, get_day_names
from babel.lists import format_list

from boundary_mail.calendar import Promise
from boundary_mail.config import WEEKDAYS, ClientConfig, Config
from boundary_mail.templates import city_of, format_elsewhere, localized, render, zone_label

T = TypeVar("T")


def client_env(
    env: jinja2.Environment, config: Config, client: ClientConfig | None
) -> jinja2.Environment:
    """The templates in the client's language."""
    return localized(env, config.language_of(client))


def other_clock(
    config: Config, client: ClientConfig | None, moments: Iterable[datetime]
) -> ZoneInfo | None:
    """The client's zone when its clock reads differently from ours at any of `moments`
    (Paris beside Berlin says nothing new)."""
    zone = config.zone_of(client)
    if zone is None or all(m.astimezone(zone).utcoffset() == m.astimezone(config.tz)
                           .utcoffset() for m in moments):
        return None
    return zone


def local_times(
    promise: Promise, config: Config, client: ClientConfig | None
) -> dict[str, Any]:
    """The promise's moments in our zone, and (when the client has a zone of its own) each
    as the client's clock reads it, with the city that names that zone."""
    language = config.language_of(client)
    moments = {"received_at": promise.received_at, "read_at": promise.read_at,
               "answer_by": promise.answer_by}
    here = {k: v.astimezone(config.tz) for k, v in moments.items()}
    zone = other_clock(config, client, here.values())
    there = {k: format_elsewhere(v.astimezone(zone), here[k], language) if zone else ""
             for k, v in moments.items()}
    return {"promise": here, "local": there,
            "city": city_of(zone, language) if zone else ""}


def _clock_list(times: list[time], day: datetime, config: Config, language: str,
                zone_of_client: Any) -> tuple[str, str]:
    """The check windows on `day` as our clock reads them ('10:00 AM and 3:00 PM CET'), and
    as the client's does ('4:00 AM and 9:00 AM'; '' without a zone of its own)."""
    moments = [datetime.combine(day.date(), t, tzinfo=config.tz) for t in times]
    ours = format_list([format_time(m, "short", locale=language) for m in moments],
                       locale=language)
    ours = f"{ours} {zone_label(moments[0], language)}"
    theirs = ""
    if zone_of_client is not None:
        theirs = format_list(
            [format_elsewhere(m.astimezone(zone_of_client), m, language) for m in moments],
            locale=language,
        )
    return ours, theirs


def workday_span(workdays: list[str], language: str) -> str:
    """The workdays in short: a run of days as 'Mon–Fri' ('Mo.–Fr.', 'пн–пт'), else each."""
    short = get_day_names("abbreviated", locale=language)
    numbers = sorted(WEEKDAYS.index(d) for d in workdays)
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{short[numbers[0]]}–{short[numbers[-1]]}"
    return format_list([str(short[n]) for n in numbers], locale=language)


def schedule_context(
    config: Config, client: ClientConfig | None, contact: str, now: datetime
) -> dict[str, Any]:
    """What every client-facing document says about when we read and answer, who the contact
    is and what counts as urgent, in the client's language, as of `now`."""
    language = config.language_of(client)
    schedule = config.schedule
    day = now.astimezone(config.tz)
    zone = other_clock(config, client, [datetime.combine(day.date(), t, tzinfo=config.tz)
                                        for t in schedule.check_windows])
    names = get_day_names("wide", locale=language)
    workdays = format_list([str(names[WEEKDAYS.index(d)]) for d in schedule.workdays],
                           locale=language)
    windows, local_windows = _clock_list(schedule.check_windows, day, config, language, zone)
    days = (client.answer_within_business_days
            if client and client.answer_within_business_days is not None
            else config.response.answer_within_business_days)
    member = config.team.member(contact)
    return {
        "workday_span": workday_span(schedule.workdays, language),
        "client_name": client.name if client else "",
        "team_name": config.smtp.from_name,
        "workdays": workdays,
        "windows": windows,
        "local_windows": local_windows,
        "city": city_of(zone, language) if zone else "",
        "holidays": bool(schedule.holidays_country),
        "answer_days": days,
        "contact": contact,
        "contact_name": member.name if member else contact,
        "urgent_keywords": list(config.urgent.keywords),
        "urgent_scan_minutes": schedule.urgent_scan_minutes,
        "urgent_channel": config.urgent.channel,
    }


def first_contact_document(
    config: Config, client: ClientConfig | None, contact: str, env: jinja2.Environment,
    now: datetime,
) -> str:
    """The "How we work together" document for `client` in its language, as of `now`.
    Rendered once per client, contact and window: a window may welcome many new senders of
    one client, and the document reads the same for all of them."""
    return _first_contact_document(_Same(config), _Same(client), contact, _Same(env), now)


@dataclass(frozen=True, eq=False)
class _Same(Generic[T]):
    """A cache key that is equal only to a key of the very same object (configuration
    models are not hashable, and two equal-looking ones may still differ on disk)."""

    item: T

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.item is self.item

    def __hash__(self) -> int:
        return id(self.item)


@lru_cache(maxsize=64)  # holds the objects it keys on, so their ids cannot be reused
def _first_contact_document(
    config: _Same[Config], client: _Same[ClientConfig | None], contact: str,
    env: _Same[jinja2.Environment], now: datetime,
) -> str:
    return render(
        client_env(env.item, config.item, client.item), "first_contact.txt.j2",
        **schedule_context(config.item, client.item, contact, now),
        agreement=config.item.agreement_of(client.item),
    ).strip() + "\n"


def document_title(document: str) -> str:
    """The document's first line: its title, and the name of the attached file."""
    return document.split("\n", 1)[0].strip()


def first_contact_documents(
    config: Config, env: jinja2.Environment, now: datetime
) -> tuple[list[tuple[str, str]], list[str]]:
    """Each client's "How we work together" as it would read it (a heading naming the client
    and its language, the document), and a problem for each that does not render."""
    documents, problems = [], []
    for i, client in enumerate(config.clients):
        try:
            document = first_contact_document(config, client, client.account_manager, env, now)
        except jinja2.TemplateError as exc:
            problems.append(
                f"clients[{i}]: rendering first_contact.txt.j2 in"
                f" {config.language_of(client)!r} failed: {exc.message}; use only the variables"
                " the shipped template uses, or remove the file to use the shipped one"
            )
            continue
        documents.append((f"{document_title(document)}: {client.name}"
                          f" ({config.language_of(client)})", document))
    return documents, problems
