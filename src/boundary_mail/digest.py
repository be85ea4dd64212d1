"""The daily digest: what is waiting on each person, what happened today, and client load.

Pure core: a `DigestData` snapshot of the state (read by the shell, see `digest_job`) plus
the configuration and an aware `now` go in; one `Digest` per recipient comes out, and
`render_digest` turns a digest into its plain-text and HTML parts.

The rules
---------
Recipients
    Every team member gets a digest of their own items (``owner`` is their address); the lead
    gets one digest of everyone's. A lead who is also listed as a member gets only the lead's.
Today
    The local calendar day of `now` in the configured time zone.
Waiting on you
    Open items, oldest first, with their age and the answer-by deadline; *overdue* once the
    deadline has passed.
Escalated, acknowledged, routed, auto-replies today
    Reminder and escalation mail sent today about your items; your items acknowledged today;
    items redirected to you today from a colleague's mailbox; auto-replies sent today, and
    messages that got none (counted by the policy rule that withheld it). Team-internal mail
    (our own digests, the team's own messages) is not counted as suppressed: it never was a
    candidate for a reply.
Client load
    Per client, over the last 7 and 30 local days (today included): tracked messages,
    follow-ups ("did you get my email?") and messages that arrived outside business hours,
    for the whole client, whoever owns the items. The 30-day count is set against the
    client's ``monthly_allowance``, the 7-day count against allowance × 7/30; a client above
    either is marked *over allowance*. A member sees the clients they manage and any client
    whose items they own; the lead sees every client.
Empty
    Nothing waiting and nothing happened today: such a digest is not sent unless
    ``digest.send_empty`` asks for a short "nothing waiting" note.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import css_inline
import jinja2
from babel.dates import format_date, format_datetime
from markupsafe import Markup

from boundary_mail.chart import Series, sparkline, volume_chart_svg
from boundary_mail.config import Config
from boundary_mail.templates import render
from boundary_mail.tracking import TrackedItem

LOAD_DAYS = 30
WAITING_LISTED = 50  # oldest items listed one by one; the rest are counted (size, speed)
SHORT_DAYS = 7
LADDER_KINDS = ("reminder", "escalation")

# Mail that never was a candidate for an auto-reply: counting it as "suppressed" would only
# count the team's own traffic (and our digests arriving in the lead's inbox).
INTERNAL_RULES = frozenset({"reply", "our-own-mail", "loop", "own-address"})

RULE_LABELS = {
    "list-header": "mailing-list mail",
    "auto-submitted": "sent by a robot (Auto-Submitted)",
    "precedence": "bulk or list mail (Precedence)",
    "x-auto-response-suppress": "sender asked for no auto-replies",
    "null-return-path": "bounce or null sender",
    "no-return-path": "no Return-Path",
    "system-sender": "system address (noreply, postmaster…)",
    "delivery-report": "delivery or read report",
    "not-addressed": "not addressed to the mailbox (Bcc, list)",
    "rate-limited": "sender had an auto-reply recently",
}


# -- the snapshot the shell reads -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ItemRecord:
    item: TrackedItem
    created_at: datetime  # when the assistant started tracking it (routed "today" uses this)


@dataclass(frozen=True, slots=True)
class FollowupRecord:
    client: str
    owner: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SentRecord:
    """A sent auto-reply, reminder or escalation, with the tracked item it concerns."""

    kind: str
    source_message_id: str
    recipients: tuple[str, ...]
    sent_at: datetime
    step: int
    owner: str  # the item's owner; "" if the source message is not tracked
    mailbox: str  # the mailbox the source message arrived in; "" if unknown
    client: str = ""
    sender: str = ""
    subject: str = ""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decided message: `rule` is the auto-reply policy slug ("reply" when answered)."""

    mailbox: str
    rule: str
    reason: str
    recorded_at: datetime
    owner: str  # the item's owner; "" if the message is not tracked


@dataclass(frozen=True, slots=True)
class DigestData:
    items: tuple[ItemRecord, ...] = ()
    followups: tuple[FollowupRecord, ...] = ()
    sent: tuple[SentRecord, ...] = ()
    decisions: tuple[DecisionRecord, ...] = ()


def data_since(now: datetime, tz: tzinfo) -> datetime:
    """The start of the oldest local day the digest looks at."""
    first = now.astimezone(tz).date() - timedelta(days=LOAD_DAYS - 1)
    return datetime.combine(first, time(0), tzinfo=tz)


# -- the digest -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Waiting:
    item: TrackedItem
    age: timedelta
    overdue: bool


@dataclass(frozen=True, slots=True)
class RuleCount:
    rule: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class ClientLoad:
    client: str  # "" for unassigned senders
    allowance: int | None
    messages_7: int
    messages_30: int
    followups_7: int
    followups_30: int
    after_hours_7: int
    after_hours_30: int
    daily_messages: tuple[int, ...]  # LOAD_DAYS values, oldest first
    daily_followups: tuple[int, ...]

    @property
    def label(self) -> str:
        return self.client or "(unassigned senders)"

    @property
    def allowance_7(self) -> float | None:
        return None if self.allowance is None else self.allowance * SHORT_DAYS / LOAD_DAYS

    @property
    def over_7(self) -> bool:
        return self.allowance_7 is not None and self.messages_7 > self.allowance_7

    @property
    def over_30(self) -> bool:
        return self.allowance is not None and self.messages_30 > self.allowance

    @property
    def over(self) -> bool:
        return self.over_7 or self.over_30

    @property
    def after_hours_share(self) -> int:
        """Percent of the 30-day messages that arrived outside business hours."""
        return round(100 * self.after_hours_30 / self.messages_30) if self.messages_30 else 0


@dataclass(frozen=True, slots=True)
class Digest:
    recipient: str
    recipient_name: str
    is_lead: bool
    now: datetime  # local
    days: tuple[date, ...]  # the LOAD_DAYS local days of the chart, oldest first
    waiting: tuple[Waiting, ...]
    escalated: tuple[SentRecord, ...]
    acknowledged: tuple[TrackedItem, ...]
    routed: tuple[TrackedItem, ...]
    new_today: int
    followups_today: int
    auto_replies_sent: int
    suppressed: tuple[RuleCount, ...]
    clients: tuple[ClientLoad, ...]

    @property
    def day(self) -> date:
        return self.now.date()

    @property
    def overdue(self) -> int:
        return sum(w.overdue for w in self.waiting)

    @property
    def waiting_listed(self) -> tuple[Waiting, ...]:
        """The oldest WAITING_LISTED items: a backlog of thousands stays a readable mail."""
        return self.waiting[:WAITING_LISTED]

    @property
    def waiting_more(self) -> int:
        return max(0, len(self.waiting) - WAITING_LISTED)

    @property
    def suppressed_total(self) -> int:
        return sum(r.count for r in self.suppressed)

    @property
    def over_allowance(self) -> tuple[ClientLoad, ...]:
        return tuple(c for c in self.clients if c.over)

    @property
    def empty(self) -> bool:
        return not (
            self.waiting or self.escalated or self.acknowledged or self.routed
            or self.new_today or self.followups_today or self.auto_replies_sent
            or self.suppressed
        )

    def should_send(self, send_empty: bool) -> bool:
        return send_empty or not self.empty

    @property
    def dedupe_key(self) -> str:
        """One digest per recipient per local day, whatever restarts in between."""
        return f"digest:{self.recipient}:{self.day.isoformat()}"

    def subject(self, locale: str) -> str:
        day = format_date(self.day, "EEE d MMM", locale=locale)
        if not self.waiting:
            summary = "nothing waiting"
        else:
            summary = f"{len(self.waiting)} waiting"
            if self.overdue:
                summary += f", {self.overdue} overdue"
        return f"Digest for {self.recipient_name} · {day}: {summary}"


def build_digests(config: Config, data: DigestData, now: datetime) -> list[Digest]:
    """One digest per team member (their own items) and one for the lead (everyone's)."""
    tz = config.tz
    local_now = now.astimezone(tz)
    today = local_now.date()
    days = tuple(today - timedelta(days=LOAD_DAYS - 1 - i) for i in range(LOAD_DAYS))
    loads = _client_loads(config, data, days)
    mailbox_owner = {m.name: m.owner for m in config.mailboxes}
    lead = config.team.lead
    lead_member = config.team.member(lead)
    recipients = [(m.address, m.name, False) for m in config.team.members if m.address != lead]
    recipients.append((lead, lead_member.name if lead_member else lead, True))

    def on_today(moment: datetime | None) -> bool:
        return moment is not None and moment.astimezone(tz).date() == today

    digests = []
    for address, name, is_lead in recipients:

        def mine(owner: str, address: str = address, is_lead: bool = is_lead) -> bool:
            return is_lead or owner == address

        items = [r for r in data.items if mine(r.item.owner)]
        waiting = sorted(
            (
                Waiting(r.item, now - r.item.received_at, r.item.deadline < now)
                for r in items if r.item.is_open
            ),
            key=lambda w: (w.item.received_at, w.item.message_id),
        )
        escalated = sorted(
            (
                s for s in data.sent
                if s.kind in LADDER_KINDS and on_today(s.sent_at) and mine(s.owner)
            ),
            key=lambda s: s.sent_at,
        )
        replies = [
            s for s in data.sent
            if s.kind == "auto_reply" and on_today(s.sent_at)
            and mine(s.owner or mailbox_owner.get(s.mailbox, ""))
        ]
        withheld = Counter(
            d.rule for d in data.decisions
            if d.rule not in INTERNAL_RULES and on_today(d.recorded_at)
            and mine(d.owner or mailbox_owner.get(d.mailbox, ""))
        )
        clients = {
            c.name for c in config.clients if is_lead or c.account_manager == address
        } | {r.item.client for r in items} | {f.client for f in data.followups if mine(f.owner)}
        digests.append(Digest(
            recipient=address,
            recipient_name=name,
            is_lead=is_lead,
            now=local_now,
            days=days,
            waiting=tuple(waiting),
            escalated=tuple(escalated),
            acknowledged=tuple(sorted(
                (r.item for r in items if on_today(r.item.acknowledged_at)),
                key=lambda i: i.acknowledged_at or i.received_at,
            )),
            routed=tuple(r.item for r in items if r.item.routed_from and on_today(r.created_at)),
            new_today=sum(on_today(r.item.received_at) for r in items),
            followups_today=sum(
                on_today(f.received_at) for f in data.followups if mine(f.owner)
            ),
            auto_replies_sent=len(replies),
            suppressed=tuple(
                RuleCount(rule, RULE_LABELS.get(rule, rule), count)
                for rule, count in sorted(withheld.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            clients=tuple(sorted(
                (loads[c] for c in clients if c in loads),
                key=lambda c: (not c.over, -c.messages_30, -c.followups_30, c.label),
            )),
        ))
    return digests


def _client_loads(
    config: Config, data: DigestData, days: tuple[date, ...]
) -> dict[str, ClientLoad]:
    tz = config.tz
    index = {d: i for i, d in enumerate(days)}
    short = set(days[-SHORT_DAYS:])
    names = [c.name for c in config.clients]
    names += sorted({r.item.client for r in data.items} - set(names))
    names += sorted({f.client for f in data.followups} - set(names))
    allowance = {c.name: c.monthly_allowance for c in config.clients}
    messages = {n: [0] * len(days) for n in names}
    after = {n: [0] * len(days) for n in names}
    followups = {n: [0] * len(days) for n in names}
    for r in data.items:
        i = index.get(r.item.received_at.astimezone(tz).date())
        if i is not None:
            messages[r.item.client][i] += 1
            after[r.item.client][i] += r.item.after_hours
    for f in data.followups:
        i = index.get(f.received_at.astimezone(tz).date())
        if i is not None:
            followups[f.client][i] += 1

    def recent(values: list[int]) -> int:
        return sum(v for d, v in zip(days, values, strict=True) if d in short)

    return {
        n: ClientLoad(
            client=n, allowance=allowance.get(n),
            messages_7=recent(messages[n]), messages_30=sum(messages[n]),
            followups_7=recent(followups[n]), followups_30=sum(followups[n]),
            after_hours_7=recent(after[n]), after_hours_30=sum(after[n]),
            daily_messages=tuple(messages[n]), daily_followups=tuple(followups[n]),
        )
        for n in names
    }


# -- rendering ------------------------------------------------------------------------------
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
    tz, locale = config.tz, config.locale

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
            "allowance": allowance, "pad": pad}


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


_INLINER = css_inline.CSSInliner(
    load_remote_stylesheets=False, keep_link_tags=False, keep_style_tags=False
)


def render_digest(env: jinja2.Environment, digest: Digest, config: Config) -> RenderedDigest:
    """Plain text and HTML (CSS inlined for mail clients; nothing remote) of one digest."""
    context: dict[str, Any] = {
        "digest": digest,
        "subject": digest.subject(config.locale),
        "timezone": config.timezone,
        "team_name": config.smtp.from_name,
        "load_days": LOAD_DAYS,
        "short_days": SHORT_DAYS,
        "sparklines": _sparklines(digest),
        **_formatters(config),
    }
    text = render(env, "digest.txt.j2", **context)
    html = render(
        env, "digest.html.j2", **context, chart=Markup(chart_svg(digest, config.locale))  # noqa: S704 - built and escaped by chart.py
    )
    return RenderedDigest(context["subject"], text, _INLINER.inline(html))
