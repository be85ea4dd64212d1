"""Test data for the pure core: one small agency, realistic header blocks, an in-memory state.

The agency: Ann (account manager of Acme, backup Bob), Bob (account manager of Globex, no
backup) and Lee the lead, each with a monitored mailbox; Acme is matched by its domain, Globex
by one address. Times are Europe/Berlin, check windows 10:00 and 15:00, Monday to Friday,
German public holidays. Monday 23 November 2026 starts an ordinary week.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import Config
from boundary_mail.decide import MessagePlan, plan_window
from boundary_mail.facts import MessageFacts
from boundary_mail.headers import parse_facts
from boundary_mail.snapshot import StateSnapshot
from boundary_mail.tracking import TrackedItem

BERLIN = ZoneInfo("Europe/Berlin")

ANN = "ann@agency.test"
BOB = "bob@agency.test"
LEAD = "lead@agency.test"
ASSISTANT = "assistant@agency.test"
CARLA = "carla@acme.test"  # an Acme person, matched by the domain acme.test
GINA = "gina@globex.test"  # Globex's one configured address
STRANGER = "sam@elsewhere.test"  # no client


MX = "mx.agency.test"  # the authserv-id the agency's receiving server writes
# What that server writes on top of a team member's genuine, DKIM-signed mail.
SIGNED = f"Authentication-Results: {MX}; dkim=pass header.d=agency.test"


def berlin(day: int, hour: int, minute: int = 0, *, month: int = 11) -> datetime:
    """A local moment in 2026 (November unless told): berlin(23, 8) is Monday 23 Nov, 08:00."""
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


MONDAY_EARLY = berlin(23, 8)  # before the first window: read Mon 10:00, answer by Tue 15:00
MONDAY_WINDOW = berlin(23, 10)


def agency_data() -> dict[str, Any]:
    def mailbox(name: str) -> dict[str, Any]:
        return {"name": name, "host": "127.0.0.1", "owner": f"{name}@agency.test"}

    return {
        "timezone": "Europe/Berlin",
        "state_dir": "/tmp/bm-state",
        "schedule": {"check_windows": ["10:00", "15:00"], "holidays_country": "DE"},
        "smtp": {"host": "127.0.0.1", "port": 465, "from_address": ASSISTANT,
                 "from_name": "Agency Assistant"},
        "mailboxes": [mailbox("ann"), mailbox("bob"), mailbox("lead")],
        "team": {"lead": LEAD, "members": [
            {"name": "Ann", "address": ANN, "backup": BOB},
            {"name": "Bob", "address": BOB},
            {"name": "Lee", "address": LEAD},
        ]},
        "clients": [
            {"name": "Acme", "domains": ["acme.test"], "account_manager": ANN},
            {"name": "Globex", "addresses": [GINA], "account_manager": BOB},
        ],
    }


def agency(**sections: Any) -> Config:
    """The agency's config; a dict merges into that section, anything else replaces it."""
    data = agency_data()
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Config(**data)


def trusting_mx(**sections: Any) -> Config:
    """The agency's config, trusting the Authentication-Results of its receiving server."""
    return agency(escalation={"trusted_authserv_id": MX}, **sections)


def calendar_of(config: Config) -> BusinessCalendar:
    return BusinessCalendar.from_config(config.schedule, config.tz)


def headers(
    sender: str,
    *,
    to: str = BOB,
    cc: str = "",
    mid: str = "<m1@acme.test>",
    subject: str = "Quote for the spring campaign",
    in_reply_to: str = "",
    references: str = "",
    return_path: str | None = None,
    extra: Iterable[str] = (),
) -> bytes:
    """A realistic header block as the server stored it. The Return-Path is the sender's
    unless told ("<>" is the null path of a bounce); `extra` lines go at the end."""
    rp = f"<{sender}>" if return_path is None else return_path
    lines = [
        f"Return-Path: {rp}",
        f"From: {sender.split('@')[0].capitalize()} <{sender}>",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        "Date: Mon, 23 Nov 2026 07:55:00 +0100",
        f"Message-ID: {mid}",
        *([f"In-Reply-To: {in_reply_to}"] if in_reply_to else []),
        *([f"References: {references}"] if references else []),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def message(
    sender: str,
    *,
    mailbox: str = "bob",
    folder: str = "INBOX",
    uid: int = 1,
    at: datetime = MONDAY_EARLY,
    **kwargs: Any,
) -> MessageFacts:
    """The facts of one message in a monitored folder, parsed like the shell parses them."""
    return parse_facts(headers(sender, **kwargs), mailbox=mailbox, folder=folder, uid=uid,
                       received_at=at)


def plan(
    *messages: MessageFacts,
    config: Config | None = None,
    state: StateSnapshot | None = None,
    now: datetime = MONDAY_WINDOW,
) -> list[MessagePlan]:
    """One check window (Monday 10:00 unless told) over `messages`."""
    config = config or agency()
    return plan_window(messages, config=config, calendar=calendar_of(config),
                       state=state or StateSnapshot(), now=now)


def tracked_item(
    *,
    deadline: datetime,
    message_id: str = "<m1@acme.test>",
    owner: str = ANN,
    ladder_step: int = 0,
    status: str = "open",
    received_at: datetime = MONDAY_EARLY,
) -> TrackedItem:
    """A stored tracked item of Acme's, open unless told."""
    return TrackedItem(
        message_id=message_id, mailbox="ann", folder="INBOX", uid=1, sender=CARLA,
        client="Acme", owner=owner, subject="Quote for the spring campaign",
        received_at=received_at, read_at=received_at, deadline=deadline, urgent=False,
        after_hours=True, routed_from="", ladder_step=ladder_step, status=status,
    )
