"""The daily digest: what is waiting on each person, what happened today, and client load.

Pure core: a `DigestData` snapshot of the state (read by the shell, see `digest_job`) plus
the configuration and an aware `now` go in; one `Digest` per recipient comes out, and
`render_digest` turns a digest into its plain-text and HTML parts. This module holds the
rules below; the data types are in `digest_data`, the writing in `digest_render`.

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
Not passed on
    Client mail that could not be passed on to its point of contact (refused for good) in the
    day before `now`: in the digest of the owner of the mailbox it lies in, and the lead's.
Waiting on clients
    Each person's open waits on clients (see `waiting`), oldest first, with the business days
    waited, the nudges made and whether the account manager was told; the lead sees everyone's.
    Below, per client and month (this one and the last), their median and longest wait
    against our median time to answer them (`waiting_figures`), for the clients listed under
    client load that we waited on.
Empty
    Nothing waiting and nothing happened today: such a digest is not sent unless
    ``digest.send_empty`` asks for a short "nothing waiting" note.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, tzinfo

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import Config
from boundary_mail.digest_data import (
    LOAD_DAYS,
    SHORT_DAYS,
    WAITING_LISTED,
    ClientLoad,
    DecisionRecord,
    Digest,
    DigestData,
    FollowupRecord,
    ItemRecord,
    RuleCount,
    SentRecord,
    UnreadMailbox,
    Waiting,
)
from boundary_mail.digest_render import RenderedDigest, chart_svg, format_age, render_digest
from boundary_mail.waiting_figures import client_waits, turn_figures

# The data types and the rendering are importable from here, where callers have found them.
__all__ = [
    "INTERNAL_RULES", "LADDER_KINDS", "LOAD_DAYS", "RULE_LABELS", "SHORT_DAYS",
    "WAITING_LISTED", "ClientLoad", "DecisionRecord", "Digest", "DigestData", "FollowupRecord",
    "ItemRecord", "RenderedDigest", "RuleCount", "SentRecord", "UnreadMailbox", "Waiting",
    "build_digests",
    "chart_svg", "data_since", "format_age", "month_start", "render_digest",
]

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
    "reply-to-our-auto-reply": "answer to our own auto-reply (RFC 3834 §2)",
}


def data_since(now: datetime, tz: tzinfo) -> datetime:
    """The start of the oldest local day the digest looks at."""
    first = now.astimezone(tz).date() - timedelta(days=LOAD_DAYS - 1)
    return datetime.combine(first, time(0), tzinfo=tz)


def month_start(now: datetime, tz: tzinfo, *, months_back: int = 0) -> datetime:
    """The start of the local month `months_back` months before now's."""
    local = now.astimezone(tz).date()
    index = local.year * 12 + local.month - 1 - months_back
    return datetime.combine(date(index // 12, index % 12 + 1, 1), time(0), tzinfo=tz)


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
    calendar = BusinessCalendar.from_config(config.schedule, tz)
    turns = turn_figures(data.waits, data.turn_items, config=config, calendar=calendar, now=now)

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
            unread=tuple(u for u in data.unread if mine(u.owner)),
            failed_routes=tuple(r for r in data.failed_routes if mine(r.owner)),
            waiting_on_clients=client_waits(data.waits, None if is_lead else address,
                                            config=config, calendar=calendar, now=now),
            turns=tuple(t for t in turns if t.their_turns and t.client in clients),
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
