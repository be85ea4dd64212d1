"""The core's entry point for one check window: message facts + state + now → plans.

Pure: the state arrives as a read-only view, `now` as an argument, and the answer is plain
frozen data. For each new inbox message the plan says whether to auto-reply (see `policy`),
who owns it (see `directory`), whether to redirect it to the client's account manager and
tell the client who that is, whether it is urgent, and whether it starts a tracked item, is a
follow-up of one, or acknowledges one (a team member's reply). The shell records the plans in
one transaction, then performs them. The same plans are printed by ``poll --dry-run``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from boundary_mail.calendar import BusinessCalendar, Promise
from boundary_mail.config import ClientConfig, Config, MailboxConfig
from boundary_mail.directory import Directory, Match
from boundary_mail.facts import MessageFacts
from boundary_mail.policy import ReplyDecision, decide_reply, reply_recipient
from boundary_mail.tracking import Acknowledgment, TrackedItem, team_reply_acknowledges

REPLY_KIND_WINDOW = "window"
NOTE_KIND_CONTACT = "contact_note"

# Rules that say "a machine sent this": such mail is never tracked, routed or alerted on.
# A person's mail that only may not be answered (rate-limited, not addressed, no Return-Path)
# is still tracked: nothing a client writes may fall through the cracks.
ROBOT_RULES = frozenset({
    "loop", "our-own-mail", "null-return-path", "list-header", "auto-submitted", "precedence",
    "x-auto-response-suppress", "system-sender", "delivery-report",
})


class StateView(Protocol):
    """What the core may ask of the stored state."""

    def last_reply_at(self, sender: str, kind: str) -> datetime | None: ...
    def reply_queued(self, sender: str, kind: str) -> bool: ...
    def is_known_contact(self, address: str) -> bool: ...
    def is_tracked(self, message_id: str) -> bool: ...
    def open_root(self, thread_ids: Iterable[str]) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AutoReply:
    """Answer the sender with the response window (and, once, the working agreement)."""

    facts: MessageFacts
    to: str
    from_address: str
    kind: str
    promise: Promise
    client: ClientConfig | None
    contact: str  # the account manager (or triage owner) named in the reply
    first_contact: bool
    urgent: bool = False
    names_contact: bool = False  # this reply also tells the client who their contact is


@dataclass(frozen=True, slots=True)
class ContactNote:
    """Tell a client, at most once per period, who their point of contact is."""

    facts: MessageFacts
    to: str
    from_address: str
    contact: str
    client: ClientConfig


@dataclass(frozen=True, slots=True)
class Redirect:
    """Pass a client message on to the account manager with Resent-* headers (RFC 5322
    §3.6.6): original From, Message-ID and body intact, so their reply threads correctly."""

    facts: MessageFacts
    to: str
    by: str  # the mailbox owner it reached


@dataclass(frozen=True, slots=True)
class UrgentAlert:
    """A VIP or urgent message: the account manager (and the alert address) hear at once."""

    facts: MessageFacts
    to: tuple[str, ...]
    why: str
    client: ClientConfig | None


Action = AutoReply | ContactNote | Redirect | UrgentAlert


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """Everything decided about one message, with the reason, for status and --dry-run."""

    facts: MessageFacts
    match: Match
    reply: ReplyDecision
    promise: Promise
    actions: tuple[Action, ...] = ()
    track: TrackedItem | None = None
    followup_of: str | None = None
    acknowledges: Acknowledgment | None = None

    @property
    def redirect(self) -> Redirect | None:
        return next((a for a in self.actions if isinstance(a, Redirect)), None)


@dataclass(slots=True)
class _Batch:
    """Decisions already taken in this window, which the stored state does not show yet."""

    replied: set[tuple[str, str]] = field(default_factory=set)
    welcomed: set[str] = field(default_factory=set)
    seen_ids: set[str] = field(default_factory=set)
    roots: dict[str, str] = field(default_factory=dict)  # message-id → open item it belongs to
    acknowledged: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)  # message-ids an auto-reply was planned for


def loop_markers(config: Config) -> frozenset[str]:
    """The X-Loop values we write; mail carrying one of them is ours."""
    return frozenset({config.smtp.from_address, *(m.owner for m in config.mailboxes)})


def plan_window(
    messages: Sequence[MessageFacts],
    *,
    config: Config,
    calendar: BusinessCalendar,
    state: StateView,
    now: datetime,
) -> list[MessagePlan]:
    """Decide every new inbox message of one window, oldest first."""
    planner = _Planner(config, calendar, state, now)
    ordered = sorted(messages, key=lambda f: (f.received_at, f.mailbox, f.uid))
    return [_plan_safely(planner, facts) for facts in ordered]


def _plan_safely(planner: _Planner, facts: MessageFacts) -> MessagePlan:
    """One message that trips an unforeseen bug must not stop the window (and, since nothing
    would be committed, every window after it): it is recorded as not decided, with why."""
    try:
        return planner.plan(facts)
    except Exception as exc:
        match = Match(None, planner.config.triage_owner, "unassigned")
        reason = (f"could not be decided ({type(exc).__name__}); nothing was sent for it,"
                  " please report this as a bug")
        promise = Promise(facts.received_at, facts.received_at, facts.received_at)
        return MessagePlan(facts, match, ReplyDecision(False, "error", reason), promise)


def plan_sent(
    messages: Sequence[MessageFacts], *, config: Config, state: StateView, now: datetime
) -> list[Acknowledgment]:
    """Team replies found in a Sent folder acknowledge the open items they answer."""
    acks: list[Acknowledgment] = []
    done: set[str] = set()
    for facts in sorted(messages, key=lambda f: (f.received_at, f.uid)):
        ack = team_reply_acknowledges(
            facts, team_addresses=config.team_addresses, open_root=state.open_root, now=now
        )
        if ack is not None and ack.root_id not in done:
            done.add(ack.root_id)
            acks.append(ack)
    return acks


def is_urgent(facts: MessageFacts, config: Config, client: ClientConfig | None) -> str:
    """Why a message is urgent ("" if it is not): a VIP sender or client, or an urgent
    keyword as a whole word in the subject or the start of the text (case-insensitive)."""
    sender = facts.sender.email if facts.sender else (facts.return_path or "")
    if sender in config.urgent.vip_senders:
        return "VIP sender"
    if client is not None and client.vip:
        return f"VIP client {client.name}"
    for keyword in config.urgent.keywords:
        word = re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)
        if word.search(facts.subject):
            return f"urgent keyword {keyword!r} in the subject"
        if word.search(facts.preview):
            return f"urgent keyword {keyword!r} in the text"
    return ""


class _Planner:
    def __init__(
        self, config: Config, calendar: BusinessCalendar, state: StateView, now: datetime
    ) -> None:
        self.config = config
        self.calendar = calendar
        self.state = state
        self.now = now
        self.directory = Directory(config)
        self.mailboxes = {m.name: m for m in config.mailboxes}
        self.markers = loop_markers(config)
        self.batch = _Batch()

    def _open_root(self, thread_ids: Iterable[str]) -> str | None:
        ids = tuple(thread_ids)
        for mid in ids:
            root = self.batch.roots.get(mid)
            if root is not None and root not in self.batch.acknowledged:
                return root
        root = self.state.open_root(ids)
        return None if root in self.batch.acknowledged else root

    def plan(self, facts: MessageFacts) -> MessagePlan:
        config, batch = self.config, self.batch
        mailbox = self.mailboxes[facts.mailbox]
        sender = facts.sender.email if facts.sender else (facts.return_path or "")
        match = self.directory.match(sender)
        promise = self.calendar.promise(facts.received_at, _answer_days(config, match.client))
        recipient = reply_recipient(facts) or ""
        # Another copy (the client wrote to Ann and Bob) was tracked already: one item, and
        # one reply, from whichever copy may be answered (one may be a Bcc copy).
        duplicate = facts.message_id in batch.seen_ids or self.state.is_tracked(facts.message_id)
        decision = self._reply_decision(
            facts, mailbox, recipient,
            duplicate=facts.message_id in batch.answered or (
                self.state.is_tracked(facts.message_id) and facts.message_id not in batch.seen_ids
            ),
        )
        batch.seen_ids.add(facts.message_id)

        if decision.rule == "own-address":
            ack = team_reply_acknowledges(
                facts, team_addresses=config.team_addresses, open_root=self._open_root,
                now=self.now,
            )
            if ack is not None:
                batch.acknowledged.add(ack.root_id)
            return MessagePlan(facts, match, decision, promise, acknowledges=ack)
        if decision.rule in ROBOT_RULES:
            return MessagePlan(facts, match, decision, promise)
        if duplicate:
            replies: tuple[Action, ...] = ()
            if decision.reply:
                batch.answered.add(facts.message_id)
                batch.replied.add((recipient, REPLY_KIND_WINDOW))
                replies = (self._auto_reply(
                    facts, mailbox, match, promise, recipient,
                    urgent=bool(is_urgent(facts, self.config, match.client)), names_contact=False,
                ),)
            return MessagePlan(facts, match, decision, promise, replies)

        followup_of = self._open_root(facts.thread_ids)
        urgent = is_urgent(facts, config, match.client)
        routed = self._route(facts, mailbox, match)
        actions: list[Action] = []
        if routed is not None:
            actions.append(routed)
        if urgent:
            alert_to = tuple(dict.fromkeys(
                a for a in (match.owner, config.urgent.alert_address) if a
            ))
            actions.append(UrgentAlert(facts, alert_to, urgent, match.client))
        tell_contact = routed is not None and match.client is not None and recipient and (
            not self._recently(recipient, NOTE_KIND_CONTACT, config.response.contact_note_days)
        )
        if decision.reply:
            batch.answered.add(facts.message_id)
            batch.replied.add((recipient, REPLY_KIND_WINDOW))
            actions.append(self._auto_reply(
                facts, mailbox, match, promise, recipient, urgent=bool(urgent),
                names_contact=bool(tell_contact),
            ))
        elif tell_contact and decision.rule == "rate-limited" and match.client is not None:
            actions.append(ContactNote(facts, recipient, mailbox.owner, match.owner, match.client))
        if tell_contact:
            batch.replied.add((recipient, NOTE_KIND_CONTACT))

        track = None
        if followup_of is not None:
            batch.roots[facts.message_id] = followup_of
        else:
            track = TrackedItem(
                message_id=facts.message_id, mailbox=facts.mailbox, folder=facts.folder,
                uid=facts.uid, sender=sender, client=match.client.name if match.client else "",
                owner=match.owner, subject=facts.subject, received_at=facts.received_at,
                read_at=promise.read_at, deadline=promise.answer_by, urgent=bool(urgent),
                after_hours=self.calendar.is_after_hours(facts.received_at),
                routed_from=routed.by if routed else "", ladder_step=0, status="open",
            )
            batch.roots[facts.message_id] = facts.message_id
        return MessagePlan(facts, match, decision, promise, tuple(actions), track, followup_of)

    def _reply_decision(
        self, facts: MessageFacts, mailbox: MailboxConfig, recipient: str, *, duplicate: bool
    ) -> ReplyDecision:
        config, batch, kind = self.config, self.batch, REPLY_KIND_WINDOW
        decision = decide_reply(
            facts,
            own_addresses=config.team_addresses,
            recipient_addresses=mailbox.own_addresses,
            system_senders=config.response.system_senders,
            loop_markers=self.markers,
            last_reply_at=self.state.last_reply_at(recipient, kind) if recipient else None,
            now=self.now,
            period_days=config.response.auto_reply_days,
        )
        if not decision.reply:
            return decision
        if duplicate:
            return ReplyDecision(False, "duplicate", "the same message reached another"
                                 " monitored mailbox and is handled there")
        if (recipient, kind) in batch.replied or self.state.reply_queued(recipient, kind):
            return ReplyDecision(False, "rate-limited", "an auto-reply to this sender is"
                                 " already on its way in this period")
        if not config.response.auto_reply:
            return ReplyDecision(False, "disabled", "auto-replies are switched off"
                                 " (response.auto_reply = false)")
        return decision

    def _route(self, facts: MessageFacts, mailbox: MailboxConfig, match: Match) -> Redirect | None:
        """A client message that reached someone other than its account manager, who did not
        get it directly (To/Cc), is passed on to the account manager."""
        if match.client is None or match.owner in mailbox.own_addresses:
            return None
        if any(a.email == match.owner for a in facts.recipients):
            return None
        return Redirect(facts, match.owner, mailbox.owner)

    def _recently(self, address: str, kind: str, days: int) -> bool:
        if (address, kind) in self.batch.replied or self.state.reply_queued(address, kind):
            return True
        last = self.state.last_reply_at(address, kind)
        return last is not None and self.now - last < timedelta(days=days)

    def _auto_reply(
        self, facts: MessageFacts, mailbox: MailboxConfig, match: Match, promise: Promise,
        recipient: str, *, urgent: bool, names_contact: bool,
    ) -> AutoReply:
        first = (
            match.client is not None
            and self.config.response.first_contact != "off"
            and recipient not in self.batch.welcomed
            and not self.state.is_known_contact(recipient)
        )
        if first:
            self.batch.welcomed.add(recipient)
        return AutoReply(
            facts=facts, to=recipient, from_address=mailbox.owner, kind=REPLY_KIND_WINDOW,
            promise=promise, client=match.client, contact=match.owner, first_contact=first,
            urgent=urgent, names_contact=names_contact,
        )


def _answer_days(config: Config, client: ClientConfig | None) -> int:
    if client is not None and client.answer_within_business_days is not None:
        return client.answer_within_business_days
    return config.response.answer_within_business_days
