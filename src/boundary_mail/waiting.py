"""Waiting on clients: when the ball is in their court, and when to nudge them. Pure.

The other half of the boundary: the team waits for clients too. The rules:

Waiting item
    A message a team member wrote to a client (any recipient that matches a client, by the
    same address/domain rules as routing, see `directory`) becomes a waiting item when

    - it was Bcc'd to the assistant address (``smtp.from_address``) with a plus tag:
      ``assistant+waiting@…`` (nudge after ``after_business_days``) or ``assistant+3d@…``
      (after 3 business days). Seen in its Sent copy (mail clients keep Bcc there), or in
      the Bcc copy itself when the assistant's mailbox is monitored (its Delivered-To; only
      when our own server vouches for the author, as for an acknowledgment: see
      `tracking.inbox_reply_doubt`). That copy is team mail: never answered, routed or
      tracked;
    - its Sent copy carries the IMAP keyword ``$Waiting`` (`WAITING_KEYWORD`);
    - ``boundary-mail wait MESSAGE-ID [--days N]``;
    - the client's ``waiting.track`` is ``"all"``: every message a team member writes to it.

    Never our own mail (our marker, Auto-Submitted). A team message in the thread of a wait
    that is still open continues that wait (a nudge sent from Drafts, a "one more thing").
Their turn ends
    when a message from that client (any of its addresses) arrives whose In-Reply-To or
    References name the waiting message or one of its nudges, unless a robot rule of
    `decide.ROBOT_RULES` recognises it (out-of-office, auto-reply, bounce, list) or it is
    our own mail; or by hand: ``boundary-mail done MESSAGE-ID``.
Nudges
    The first is due ``after_business_days`` business days after the message was sent, each
    next one ``spacing_business_days`` after the previous nudge, at most ``max_nudges``; one
    spacing after the last, the wait is reported to the client's account manager ("waiting on
    Acme for 23 business days") and to the lead in the digest. A business day is the
    calendar's business hours of one day (``schedule.business_hours``), so "2 business days
    after Monday 10:30" is Wednesday 10:30, and weekends and holidays do not count. At most
    one step per item and window: after an outage the due nudge goes out now and the next
    one a spacing later, none is skipped, none is doubled (each has its dedupe key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from boundary_mail.actions import MessagePlan
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import ClientConfig, Config
from boundary_mail.config_waiting import NudgeMode, WaitingConfig, waiting_rules
from boundary_mail.decide import ROBOT_RULES
from boundary_mail.directory import Directory
from boundary_mail.facts import MessageFacts

WAITING_KEYWORD = "$Waiting"
_DAYS_TAG = re.compile(r"(\d{1,2})d")
# Not a person's reply: the robot rules, and team mail (a colleague's copy in the thread).
_NOT_THEIR_ANSWER = ROBOT_RULES | {"own-address", "error"}


@dataclass(frozen=True, slots=True)
class WaitStart:
    """A team message the client is to answer, as it becomes a waiting item."""

    message_id: str  # the header's Message-ID: the nudges thread to it
    mailbox: str  # where the copy was found (see `member_mailbox` for the member's own)
    folder: str
    uid: int
    member: str  # who wrote it; nudges go out from this address
    client: str
    to: tuple[str, ...]  # the client's addresses among its recipients
    subject: str
    references: tuple[str, ...]
    sent_at: datetime
    after_days: int
    how: str  # "bcc" | "keyword" | "all" | "manual"


@dataclass(frozen=True, slots=True)
class WaitEnd:
    """The client's turn ended: they answered (`by` their message), or a person said so."""

    message_id: str
    at: datetime
    how: str  # "reply" | "manual"
    by: str = ""


@dataclass(frozen=True, slots=True)
class WaitChanges:
    """What one batch starts and ends, committed with it."""

    starts: tuple[WaitStart, ...] = ()
    ends: tuple[WaitEnd, ...] = ()


NO_WAIT_CHANGES = WaitChanges()


@dataclass(frozen=True, slots=True)
class WaitingItem:
    """A waiting item as stored."""

    start: WaitStart
    nudges: int = 0
    last_nudge_at: datetime | None = None
    reported_at: datetime | None = None
    status: str = "open"  # open | answered | done
    ended_at: datetime | None = None
    ended_how: str = ""

    @property
    def message_id(self) -> str:
        return self.start.message_id

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class Nudge:
    """The `number`-th nudge of `item`, from its member, in its thread."""

    item: WaitingItem
    number: int
    mode: NudgeMode
    waited_days: float

    @property
    def dedupe_key(self) -> str:
        return f"nudge:{self.item.message_id}:{self.number}"


@dataclass(frozen=True, slots=True)
class WaitReport:
    """The nudges are used up: the account manager hears how long we have waited."""

    item: WaitingItem
    to: str
    waited_days: float

    @property
    def dedupe_key(self) -> str:
        return f"waiting-report:{self.item.message_id}"


@dataclass(frozen=True, slots=True)
class NudgePlan:
    nudges: tuple[Nudge, ...] = ()
    reports: tuple[WaitReport, ...] = ()


# -- business days ------------------------------------------------------------------------------
def business_day_hours(config: Config) -> float:
    """The length of one business day in hours (``schedule.business_hours``)."""
    start, end = config.schedule.business_hours
    return (end.hour - start.hour) + (end.minute - start.minute) / 60


def business_days_between(
    calendar: BusinessCalendar, day_hours: float, a: datetime, b: datetime
) -> float:
    """Business days from `a` to `b`, as business hours over a day's hours."""
    return calendar.business_hours_between(a, b) / day_hours


def after_business_days(
    calendar: BusinessCalendar, day_hours: float, start: datetime, days: int
) -> datetime:
    return calendar.add_business_hours(start, days * day_hours)


# -- what becomes a waiting item ------------------------------------------------------------
def tag_days(addresses: Iterable[str], assistant: str, default: int) -> int | None:
    """The day count of the first assistant plus-address among `addresses` ("waiting" is
    `default`, "3d" is 3); None when none is one."""
    local, _, domain = assistant.partition("@")
    for address in addresses:
        own, _, own_domain = address.lower().partition("@")
        base, plus, tag = own.partition("+")
        if not plus or base != local or own_domain != domain:
            continue
        if tag == "waiting":
            return default
        days = _DAYS_TAG.fullmatch(tag)
        if days and 1 <= int(days.group(1)) <= 60:
            return int(days.group(1))
    return None


def _ours(facts: MessageFacts) -> bool:
    return bool(facts.our_marker) or any(v.split(";")[0].strip() != "no"
                                         for v in facts.auto_submitted)


def client_recipients(
    facts: MessageFacts, config: Config, directory: Directory
) -> tuple[ClientConfig, tuple[str, ...]] | None:
    """The first client among the message's recipients, with all its addresses there."""
    found: ClientConfig | None = None
    to: list[str] = []
    for address in facts.to + facts.cc:
        client = directory.match(address.email).client
        if client is None or address.email in config.team_addresses:
            continue
        if found is None:
            found = client
        if client.name == found.name and address.email not in to:
            to.append(address.email)
    return (found, tuple(to)) if found is not None else None


def wait_start(
    facts: MessageFacts, *, config: Config, directory: Directory,
    manual_days: int | None = None, manual: bool = False,
) -> WaitStart | None:
    """The waiting item a team member's message starts (see the module docstring), or None.
    `manual`: `boundary-mail wait` (with `manual_days`, else the tag's or the rules' days)."""
    member = facts.sender.email if facts.sender else ""
    if member not in config.team_addresses or _ours(facts):
        return None
    found = client_recipients(facts, config, directory)
    if found is None:
        return None
    client, to = found
    rules = waiting_rules(config.waiting, client.waiting)
    tagged = tag_days([a.email for a in facts.bcc] + list(facts.delivered_to),
                      config.smtp.from_address, rules.after_business_days)
    if manual:
        how, days = "manual", manual_days or tagged or rules.after_business_days
    elif tagged is not None:
        how, days = "bcc", tagged
    elif any(f.lower() == WAITING_KEYWORD.lower() for f in facts.flags):
        how, days = "keyword", rules.after_business_days
    elif rules.track == "all":
        how, days = "all", rules.after_business_days
    else:
        return None
    sent = facts.date if facts.date is not None and facts.date <= facts.received_at else None
    return WaitStart(
        message_id=facts.thread_id, mailbox=facts.mailbox,
        folder=facts.folder, uid=facts.uid, member=member, client=client.name, to=to,
        subject=facts.subject, references=facts.references,
        sent_at=sent or facts.received_at, after_days=days, how=how,
    )


def is_their_answer(plan: MessagePlan) -> bool:
    """Written by a person of a client: not by a robot (out-of-office, bounce, list) and not
    a colleague's copy."""
    return plan.match.client is not None and plan.reply.rule not in _NOT_THEIR_ANSWER


def wait_end(
    plan: MessagePlan, open_threads: Mapping[str, tuple[str, str]]
) -> WaitEnd | None:
    """The wait a client's message ends: it is in the thread (`open_threads`: a waiting
    message's or a nudge's id → (the waiting item, its client)) and `is_their_answer`."""
    client = plan.match.client
    if client is None or not is_their_answer(plan):
        return None
    for mid in plan.facts.thread_ids:
        found = open_threads.get(mid)
        if found is not None and found[1] == client.name:
            return WaitEnd(found[0], plan.facts.received_at, "reply", plan.facts.message_id)
    return None


# -- nudges and the report ------------------------------------------------------------------
def member_mailbox(config: Config, start: WaitStart) -> str:
    """The member's own mailbox (its Drafts take the nudges; the client's answer lands in
    it): the one they own, else the one whose Sent folder held the copy; "" if neither (a
    Bcc copy in the assistant's inbox from a member without a monitored mailbox)."""
    own = next((m.name for m in config.mailboxes if start.member in m.own_addresses), None)
    if own is not None:
        return own
    found = next((m for m in config.mailboxes if m.name == start.mailbox), None)
    return start.mailbox if found is not None and found.sent == start.folder else ""


def rules_for(config: Config, client: str) -> WaitingConfig:
    entry = config.client_named(client)
    return waiting_rules(config.waiting, entry.waiting if entry else None)


def report_recipient(config: Config, client: str) -> str:
    entry = config.client_named(client)
    return entry.account_manager if entry else config.team.lead


def next_step_at(item: WaitingItem, rules: WaitingConfig, calendar: BusinessCalendar,
                 day_hours: float) -> datetime | None:
    """When the item's next nudge (or its report) falls due; None: nothing more to do."""
    if not item.is_open or item.reported_at is not None:
        return None
    anchor = item.last_nudge_at or item.start.sent_at
    days = rules.spacing_business_days if item.nudges else item.start.after_days
    return after_business_days(calendar, day_hours, anchor, days)


def plan_nudges(
    items: Iterable[WaitingItem], *, config: Config, calendar: BusinessCalendar,
    now: datetime,
) -> NudgePlan:
    """Every nudge and report due at `now`, oldest wait first, at most one step per item."""
    day_hours = business_day_hours(config)
    nudges: list[Nudge] = []
    reports: list[WaitReport] = []
    for item in sorted(items, key=lambda i: (i.start.sent_at, i.message_id)):
        rules = rules_for(config, item.start.client)
        due = next_step_at(item, rules, calendar, day_hours)
        if due is None or now < due:
            continue
        waited = business_days_between(calendar, day_hours, item.start.sent_at, now)
        if item.nudges < rules.max_nudges:
            nudges.append(Nudge(item, item.nudges + 1, rules.nudge, waited))
        else:
            reports.append(WaitReport(item, report_recipient(config, item.start.client),
                                      waited))
    return NudgePlan(tuple(nudges), tuple(reports))


def waited_for(item: WaitingItem, *, config: Config, calendar: BusinessCalendar,
               now: datetime) -> float:
    """Business days the client has had the ball (until their answer, or until now)."""
    end = item.ended_at if item.ended_at is not None else now
    return business_days_between(calendar, business_day_hours(config), item.start.sent_at, end)


def open_waits_of(items: Sequence[WaitingItem], member: str | None) -> list[WaitingItem]:
    """Open waits, oldest first: one member's, or everyone's (None)."""
    return sorted((i for i in items if i.is_open and member in (None, i.start.member)),
                  key=lambda i: (i.start.sent_at, i.message_id))



# -- what a window says about it (poll's report) ----------------------------------------------
def describe_changes(changes: WaitChanges) -> list[str]:
    lines = [
        f"waiting on {s.client} ({', '.join(s.to)}) for an answer to {s.message_id} from"
        f" {s.member} ({s.how}): first nudge after {s.after_days} business day(s)"
        for s in changes.starts
    ]
    lines += [f"{e.message_id}: the client answered ({e.by}); no more nudges"
              for e in changes.ends]
    return lines


def describe_plan(plan: NudgePlan) -> list[str]:
    lines = [
        f"nudge {n.number} to {n.item.start.client} ({', '.join(n.item.start.to)}) for"
        f" {n.item.message_id}, " + ("sent" if n.mode == "send" else "a draft in"
                                     f" {n.item.start.member}'s Drafts")
        + f", after {n.waited_days:.1f} business days"
        for n in plan.nudges
    ]
    lines += [f"waiting report to {r.to}: {r.item.start.client} has not answered"
              f" {r.item.message_id} for {int(r.waited_days)} business days"
              for r in plan.reports]
    return lines
